from coaching_kit.migrations import run_env
from coaching_stats.db import metadata

run_env(metadata)
