"""agp hook bridge for the reference intendant: `python3 -I -S bridge.py [--socket PATH] [--deadline S] [--session ID]`.

The logic is in _agp_bridge.py (beside this file in the sandbox, one directory up in
the source tree); see its docstring. This stub names the harness, and if the core
cannot be loaded it answers with the deny dialect itself.
"""

import sys

HARNESS = "reference"

_here = __file__.rpartition("/")[0] or "."
sys.path[:0] = [_here, _here + "/.."]  # -I leaves the script's directory out of sys.path
try:
    from _agp_bridge import main
except BaseException:  # noqa: BLE001 - fail closed: a bridge that cannot load denies
    _why = "agp: the hook bridge could not load, so the call is denied"
    sys.stdout.write(
        '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",'
        '"permissionDecisionReason":"' + _why + '"}}\n'
    )
    sys.stderr.write(_why + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(2) from None
main(HARNESS)
