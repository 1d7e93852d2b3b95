"""Package installers the default policy lets an agent run in clone mode (pip, npx, uv, poetry, pdm): their
option-allowlists for that role (install the project's dependencies; where they connect is the
egress door's decision).

Not listed on purpose, so a command line using one is unknown: pip options that run another
interpreter or pass settings to a package's build backend (--python, -C/--config-settings,
--global-option), install outside the environment (--root, --prefix, --src), weaken or redirect
the connection (--trusted-host, --cert, --client-cert, --proxy, --keyring-provider), or change
pip's own behaviour (--use-feature, --use-deprecated, --exists-action); pip subcommands other than
those below (config writes pip's configuration; cache, debug). npx -c/--call runs a shell string.
pip's optparse resolves abbreviations; the classifier never does (an abbreviated option is unknown).
"""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("PROGRAMS",)

_PIP_SOURCE = "pip 26.3 and 23.2.1 --help, install --help (options in both; Debian 12 has 23.0.1)"
_PIP_GENERAL_LONG = (
    "--help --quiet --verbose --version --isolated --require-virtualenv --no-input --no-cache-dir "
    "--disable-pip-version-check --no-color --debug"
)
_PIP_GENERAL_VALUES = "--timeout --retries --cache-dir --log"
_PIP_GENERAL = Allow(
    short="hqvV",
    long=options(_PIP_GENERAL_LONG),
    long_values=options(_PIP_GENERAL_VALUES),
    write_values=options("--cache-dir --log"),
    source=_PIP_SOURCE,
)
_PIP_INDEX_VALUES = "--index-url --extra-index-url --find-links"
_PIP_INSTALL = Allow(
    short="hqvVUIe",
    short_values="rcitfe",
    long=options(
        _PIP_GENERAL_LONG + " --no-deps --pre --dry-run --ignore-installed --user --upgrade --force-reinstall "
        "--ignore-requires-python --no-build-isolation --check-build-dependencies "
        "--break-system-packages --compile --no-compile --no-warn-script-location --no-warn-conflicts "
        "--prefer-binary --require-hashes --no-clean --no-index"
    ),
    long_values=options(
        _PIP_GENERAL_VALUES + " " + _PIP_INDEX_VALUES + " --requirement --constraint --editable --target "
        "--upgrade-strategy --no-binary --only-binary --progress-bar --root-user-action --report"
    ),
    file_values=options("-r --requirement -c --constraint"),
    write_values=options("--cache-dir --log -t --target --report"),
    source=_PIP_SOURCE,
)
_PIP_UNINSTALL = Allow(
    short="hqvVyr",
    short_values="r",
    long=options(_PIP_GENERAL_LONG + " --yes --break-system-packages"),
    long_values=options(_PIP_GENERAL_VALUES + " --requirement"),
    file_values=options("-r --requirement"),
    write_values=options("--cache-dir --log"),
    source=_PIP_SOURCE,
)
_PIP_QUERY = Allow(  # list, show, freeze, check, inspect, hash, help
    short="hqvVoulef",
    long=options(
        _PIP_GENERAL_LONG + " --outdated --uptodate --editable --local --user --not-required --exclude-editable "
        "--include-editable --files --all --pre"
    ),
    long_values=options(_PIP_GENERAL_VALUES + " --format --exclude --algorithm"),
    write_values=options("--cache-dir --log"),
    source=_PIP_SOURCE,
)
_PIP_DOWNLOAD = Allow(  # download, wheel: into a directory (-d/-w), judged as a write
    short="hqvVd",
    short_values="rcidfw",
    long=options(
        _PIP_GENERAL_LONG + " --no-deps --pre --no-build-isolation --prefer-binary "
        "--require-hashes --no-clean --no-index --ignore-requires-python"
    ),
    long_values=options(
        _PIP_GENERAL_VALUES + " " + _PIP_INDEX_VALUES + " --requirement --constraint --dest --wheel-dir "
        "--platform --python-version --implementation --abi --no-binary --only-binary --progress-bar"
    ),
    file_values=options("-r --requirement -c --constraint"),
    write_values=options("--cache-dir --log -d --dest -w --wheel-dir"),
    source=_PIP_SOURCE,
)
_PIP_SUBCOMMANDS = (
    ("install", _PIP_INSTALL),
    ("uninstall", _PIP_UNINSTALL),
    ("download", _PIP_DOWNLOAD),
    ("wheel", _PIP_DOWNLOAD),
    *((sub, _PIP_QUERY) for sub in ("list", "show", "freeze", "check", "inspect", "hash", "help")),
)
PIP_NAMES = ("pip", "pip3", *(f"pip3.{n}" for n in range(8, 16)))

# npx runs the package's program: a wrapper, the program is judged as a command of its own (npx
# tsc -> tsc); -c/--call runs a shell string (a code option)
_NPX = Allow(
    short="yqh",
    short_values="pw",
    long=options("--yes --no --quiet --help --workspaces --include-workspace-root"),
    long_values=options("--package --workspace"),
    posix_order=True,
    source="npm 11.19.1 exec --help (npx)",
)

# uv, poetry, pdm: `run` runs a command (judged as a command of its own, like a wrapper's); installs
# and lock files by subcommand. Left out: uv run --with/--with-requirements/--env-file/--python
# (packages, variables or an interpreter from elsewhere), uv tool/uvx (runs any package), uv python
# install, poetry shell/self/source/config, pdm self/config/use; -C/--directory/--project (work
# elsewhere); --index-url on uv add/sync (the egress door decides where installs connect, pip's
# -i is the same)
_UV_GLOBAL_LONG = "--quiet --verbose --offline --no-cache --frozen --locked --no-sync --help --version --no-progress"
_UV_RUN = Allow(
    short="qvh",
    long=options(_UV_GLOBAL_LONG + " --no-project --isolated --all-extras --no-dev --exact --active"),
    long_values=options("--extra --group --only-group --package --color"),
    posix_order=True,
    source="uv 0.8 run --help (docs.astral.sh/uv/reference/cli)",
)
_UV_PROJECT = Allow(  # sync, lock, add, remove, tree, export, version, init, venv, build
    short="qvhU",
    short_values="o",
    long=options(
        _UV_GLOBAL_LONG + " --all-extras --no-dev --dev --upgrade --check --dry-run --no-install-project "
        "--inexact --exact --active --seed --lib --app --package --no-package --bare --all-packages --wheel --sdist"
    ),
    long_values=options(
        "--extra --group --only-group --optional --package --color --format --output-file --depth --bump "
        "--upgrade-package --out-dir --name"
    ),
    write_values=options("-o --output-file --out-dir"),
    source="uv 0.8 sync/lock/add/remove/tree/export/venv/build --help",
)
_UV_PIP = Allow(  # uv pip install/uninstall/list/show/freeze/sync/compile: install by its own subcommand word
    short="qvhreU",
    short_values="rceo",
    long=options(
        _UV_GLOBAL_LONG + " --system --break-system-packages --upgrade --no-deps --editable --all-extras --dry-run "
        "--reinstall --no-build-isolation --strict --pre"
    ),
    long_values=options("--requirement --constraint --extra --editable --output-file --color --format"),
    file_values=options("-r --requirement -c --constraint"),
    write_values=options("-o --output-file"),
    source="uv 0.8 pip install --help",
)
_POETRY_GLOBAL_LONG = "--quiet --verbose --no-interaction --no-ansi --ansi --help --version --no-cache --no-plugins"
_POETRY_RUN = Allow(short="qvnh", long=options(_POETRY_GLOBAL_LONG), posix_order=True, source="poetry 2 run --help")
_POETRY_PROJECT = Allow(  # install, add, remove, lock, update, show, check, build, version, sync, env info
    short="qvnhDE",
    short_values="GE",
    long=options(
        _POETRY_GLOBAL_LONG + " --no-root --sync --all-extras --all-groups --dry-run --compile --dev --optional "
        "--allow-prereleases --lock --tree --latest --outdated --top-level --regenerate --no-update --short "
        "--next-phase --full-path"
    ),
    long_values=options("--only --with --without --extras --group --source --python --format --output"),
    source="poetry 2 install/add/lock/show --help (python-poetry.org/docs/cli)",
)
_PDM_RUN = Allow(
    short="qvh", long=options("--quiet --verbose --help --list"), posix_order=True, source="pdm 2 run --help"
)
_PDM_PROJECT = Allow(  # install, sync, add, remove, lock, update, list, show, build, info
    short="qvhdG",
    short_values="G",
    long=options(
        "--quiet --verbose --help --dev --prod --production --no-editable --no-self --frozen-lockfile --check "
        "--dry-run --no-isolation --clean --only-keep --tree --json --save-exact --save-compatible --unconstrained"
    ),
    long_values=options("--group --lockfile --fields"),
    source="pdm 2 install/add/lock --help (pdm-project.org: CLI reference)",
)

PROGRAMS = (
    Program(
        "uv",
        allow=Allow(short="qvhV", long=options(_UV_GLOBAL_LONG), source=_UV_RUN.source),
        subcommand_allow=(
            ("run", _UV_RUN),
            *(
                (sub, _UV_PROJECT)
                for sub in ("sync", "lock", "add", "remove", "tree", "export", "version", "init", "venv", "build")
            ),
            ("pip", _UV_PIP),
            ("help", _UV_PROJECT),
        ),
        subcommands_closed=True,
        run_subcommand=("run",),
    ),
    Program(
        "poetry",
        allow=Allow(short="qvnhV", long=options(_POETRY_GLOBAL_LONG), source=_POETRY_RUN.source),
        subcommand_allow=(
            ("run", _POETRY_RUN),
            *(
                (sub, _POETRY_PROJECT)
                for sub in (
                    "install",
                    "add",
                    "remove",
                    "lock",
                    "update",
                    "show",
                    "check",
                    "build",
                    "version",
                    "sync",
                    "help",
                    "list",
                )
            ),
        ),
        subcommands_closed=True,
        run_subcommand=("run",),
    ),
    Program(
        "pdm",
        allow=Allow(short="qvhV", long=options("--quiet --verbose --help --version"), source=_PDM_RUN.source),
        subcommand_allow=(
            ("run", _PDM_RUN),
            *(
                (sub, _PDM_PROJECT)
                for sub in ("install", "sync", "add", "remove", "lock", "update", "list", "show", "build", "info")
            ),
        ),
        subcommands_closed=True,
        run_subcommand=("run",),
    ),
    *(Program(n, allow=_PIP_GENERAL, subcommand_allow=_PIP_SUBCOMMANDS, subcommands_closed=True) for n in PIP_NAMES),
    Program(
        "npx",
        role="wrapper",
        value_options=options("-p --package -w --workspace"),
        code_options=("-c", "--call"),
        allow=_NPX,
    ),
)
