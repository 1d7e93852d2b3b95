"""Programs that run another command given on their command line (sudo, env, nice, timeout, ...),
and xargs and watch, which build one. The walker classifies the inner command too, with the
wrapper in its ``via``."""

from __future__ import annotations

from agp.policy.classify.programs._model import Program, options

__all__ = ("PROGRAMS",)


def _wrapper(name: str, value_options: str = "", positionals: int = 0, **kw: object) -> Program:
    return Program(name, role="wrapper", value_options=options(value_options), positionals=positionals, **kw)  # type: ignore[arg-type]


PROGRAMS = (
    _wrapper(
        "sudo",
        "-u -g -C -D -h -p -r -t -U -T -R --user --group --close-from --chdir --host --prompt --role "
        "--type --other-user --command-timeout --chroot",
    ),
    _wrapper("doas", "-u -C"),
    _wrapper(
        "env",
        "-u --unset -C --chdir -S --split-string -P --default-signal --ignore-signal --block-signal -a --argv0",
        operands="none",
    ),
    _wrapper("nice", "-n --adjustment"),
    _wrapper("timeout", "-s --signal -k --kill-after", positionals=1),
    _wrapper("time", "-o --output -f --format"),
    _wrapper("stdbuf", "-i -o -e --input --output --error"),
    _wrapper("ionice", "-c --class -n --classdata -p --pid -P --pgid -u --uid"),
    _wrapper("chrt", positionals=1),
    _wrapper("taskset", positionals=1),
    _wrapper("setsid"),
    _wrapper("unshare", "--map-user --map-group --setuid --setgid -S -G -R --root -w --wd --propagation"),
    _wrapper("nsenter", "-t --target -S --setuid -G --setgid -r --root -w --wd"),
    _wrapper("flock", "-w --timeout -E --conflict-exit-code", positionals=1),
    _wrapper("chroot", "--userspec --groups", positionals=1),
    _wrapper("command"),
    _wrapper("builtin"),
    _wrapper("exec", "-a"),
    _wrapper("coproc"),
    _wrapper("nohup"),
    _wrapper("xvfb-run", "-n --server-num -s --server-args -f --auth-file -e --error-file -p"),
    _wrapper("caffeinate", "-t -w"),
    _wrapper("unbuffer"),
    _wrapper("catchsegv"),
    _wrapper("prlimit"),
    _wrapper("runuser", "-u --user -g --group -G --supp-group -s --shell -w"),
    _wrapper("firejail"),
    _wrapper("proot", "-r -b -w -q"),
    _wrapper("fakeroot", "-l --lib --faked -s -i"),
    _wrapper("ltrace", "-o -e -p -u -n -s"),
    _wrapper("strace", "-o -e -p -u -s -P -a -b -E -I -O -S -X"),
    _wrapper("valgrind"),
    _wrapper("torsocks"),
    _wrapper("proxychains", "-f"),
    _wrapper("proxychains4", "-f"),
    _wrapper("dbus-launch"),
    _wrapper(
        "systemd-run",
        "-p --property -u --unit --uid --gid -E --setenv --working-directory -M --machine --description --slice",
    ),
    _wrapper("pkexec", "--user"),
    # xargs and watch build the command they run (their own rules in the walker); -i and -l take an
    # optional attached value, so they are not listed
    Program(
        "xargs",
        value_options=options(
            "-I -n -L -P -d -E -s -a --arg-file --delimiter --max-args --max-lines "
            "--max-procs --eof --max-chars --process-slot-var"
        ),
    ),
    Program("watch", value_options=options("-n --interval -q --equexit")),
)
