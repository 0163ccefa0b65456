from putright.letters.models import metadata
from putright.shared.migrations import run_env

run_env(metadata)
