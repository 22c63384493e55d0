from coaching_kit.migrations import run_env
from coaching_users.db import metadata

run_env(metadata)
