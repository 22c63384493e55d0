from coaching_gateway.db import metadata
from coaching_kit.migrations import run_env

run_env(metadata)
