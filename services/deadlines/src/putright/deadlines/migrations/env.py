from putright.deadlines.models import metadata
from putright.shared.migrations import run_env

run_env(metadata)
