from coaching_kit.migrations import run_env
from coaching_slots.db import metadata

run_env(metadata)
