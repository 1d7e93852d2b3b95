"""Network clients: their URL-like operands become url statements; options that run a program
(ssh -o ProxyCommand=, rsync -e, scp -S)."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program

__all__ = ("PROGRAMS",)

PROGRAMS = (
    *(
        Program(n, network=True)
        for n in (
            "curl",
            "wget",
            "http",
            "https",
            "httpie",
            "xh",
            "aria2c",
            "lynx",
            "links",
            "w3m",
            "nc",
            "ncat",
            "netcat",
            "socat",
            "telnet",
            "ftp",
            "tftp",
            "openssl",
        )
    ),
    Program("ssh", network=True, code_options=("-o",)),
    Program("scp", network=True, code_options=("-S", "-o"), writes="last_operand"),
    Program("sftp", network=True, code_options=("-S", "-o")),
    Program(
        "rsync", network=True, code_options=("-e", "--rsh", "--rsync-path"), writes="last_operand", abbreviates=True
    ),
)
