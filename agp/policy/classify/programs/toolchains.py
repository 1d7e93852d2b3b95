"""Compilers, runtimes and build generators the default policy lets an agent run in clone mode
(node, rustc, rustfmt, gofmt, pyright, javac, java, cmake): their option-allowlists for that role
(build, run and check the project's own code).

Not listed on purpose, so a command line using one is unknown: options that load code, a plugin, a
library or a configuration from outside the working directory, from stdin or from a descriptor
(node --require/--import/--loader with an absolute, `..` or URL value, --experimental-policy,
--openssl-config, --snapshot-blob; rustc -L, -l, --extern, --sysroot, -Z, `-C linker=`,
`-C link-arg=`, `-C llvm-args=`; java -javaagent, -agentpath, -agentlib, -Xbootclasspath,
--patch-module, `-XX:` settings other than the listed memory/GC ones (OnError runs a command,
Flags/VMOptionsFile read more options); javac -J (options to its own JVM), --system,
-bootclasspath; cmake -E (its command mode), --toolchain, -P/-C scripts outside the working
directory, `-D` of a CMAKE_ variable that names a program, a module path or a toolchain, and
words after `--` in --build (options to the native build tool: make's SHELL=); pyright
--pythonpath/--venvpath (an interpreter it runs), --typeshedpath), a debugger or inspector port
(node --inspect), program text on the command line (node -e/-p: as python -c), and `@FILE` argument
files. Class paths, module paths and `-D` values must be relative paths below the working
directory (``checked_values``). Abbreviations are never resolved.
"""

from __future__ import annotations

from agp.policy.classify.programs._model import Allow, Program, options

__all__ = ("NODE_ALLOW", "PROGRAMS")

#: a relative path below the working directory: no leading `/` or `~`, no `..` component, no `:`
_REL = r"(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.@+,-][A-Za-z0-9_.@+,/-]*"
#: a class or module path: relative entries separated by `:` (a `*` entry takes every jar)
_CLASS_PATH = r"(?!.*(?:^|[/:])\.\.(?:[/:]|$))[A-Za-z0-9_.*-][A-Za-z0-9_.*/-]*(?::[A-Za-z0-9_.*-][A-Za-z0-9_.*/-]*)*"
#: a module node loads before the program: `./file` below the working directory or a package name
#: (resolved from node_modules); not `/abs`, `../x`, `data:`/`file:` URLs (a colon), `~`
_NODE_MODULE = r"(?!.*(?:^|/)\.\.(?:/|$))(?:\./)?@?[A-Za-z0-9_][A-Za-z0-9_.@/-]*"

# node (v20 --help; --max-old-space-size and --stack-size from --v8-options): options end at the
# script; -e/-p/--eval/--print (program text: the walker's interpreter rule), -i (a REPL reading
# stdin), --inspect* (a debugger port), --experimental-policy, --openssl-config, --icu-data-dir,
# --snapshot-blob, --build-snapshot, --experimental-sea-config, --env-file outside the working
# directory (it can set NODE_OPTIONS) are not listed
NODE_ALLOW = Allow(
    short="hvc",
    short_values="rC",
    long=options(
        "--help --version --check --test --test-only --test-force-exit --watch --watch-preserve-output "
        "--enable-source-maps --no-warnings --no-deprecation --throw-deprecation --trace-deprecation "
        "--pending-deprecation --trace-warnings --trace-uncaught --trace-exit --trace-sigint --trace-sync-io "
        "--trace-promises --expose-gc --preserve-symlinks --preserve-symlinks-main --abort-on-uncaught-exception "
        "--experimental-vm-modules --experimental-test-coverage --experimental-test-module-mocks "
        "--experimental-require-module --no-experimental-require-module --experimental-wasm-modules "
        "--experimental-import-meta-resolve --no-experimental-detect-module --experimental-permission "
        "--allow-child-process --allow-worker --allow-wasi --allow-addons --no-addons --jitless "
        "--frozen-intrinsics --zero-fill-buffers --disallow-code-generation-from-strings --use-openssl-ca "
        "--use-bundled-ca --no-extra-info-on-fatal-exception --cpu-prof --heap-prof"
    ),
    long_values=options(
        "--require --import --loader --experimental-loader --conditions --title --input-type --env-file "
        "--test-name-pattern --test-concurrency --test-timeout --test-shard --test-reporter "
        "--test-reporter-destination --watch-path --unhandled-rejections --disable-warning --stack-trace-limit "
        "--max-old-space-size --stack-size --allow-fs-read --allow-fs-write --experimental-default-type "
        "--dns-result-order --cpu-prof-dir --cpu-prof-name --heap-prof-dir --heap-prof-name --redirect-warnings"
    ),
    file_values=options("-r --require --import --loader --experimental-loader"),
    config_values=options("--env-file"),
    write_values=options(
        "--test-reporter-destination --cpu-prof-dir --cpu-prof-name --heap-prof-dir --heap-prof-name "
        "--redirect-warnings"
    ),
    checked_values=(
        *((o, _NODE_MODULE) for o in ("-r", "--require", "--import", "--loader", "--experimental-loader")),
        ("--test-reporter", r"spec|tap|dot|junit|lcov"),
        ("--max-old-space-size", r"[0-9]+"),
        ("--stack-size", r"[0-9]+"),
    ),
    posix_order=True,
    source="node v20.20.2 --help, --v8-options",
)

# rustc (1.95 --help, -C help): -C only with the listed codegen settings; --emit/--print only to
# standard output or their default files (`KIND=PATH` is not listed)
_RUSTC_CODEGEN = (
    r"(?:opt-level|debuginfo|debug-assertions|overflow-checks|panic|codegen-units|target-cpu|target-feature"
    r"|lto|strip|embed-bitcode|force-frame-pointers|force-unwind-tables|relocation-model|code-model"
    r"|split-debuginfo|symbol-mangling-version|instrument-coverage|jump-tables|link-dead-code|no-redzone"
    r"|no-vectorize-loops|no-vectorize-slp|inline-threshold|dwarf-version|metadata|extra-filename|rpath"
    r"|prefer-dynamic|relro-level)(?:=[A-Za-z0-9_.,+-]*)?"
)
_RUSTC = Allow(
    short="hgOVv",
    short_values="oAWDFC",
    long=options("--help --test --version --verbose"),
    long_values=options(
        "--cfg --check-cfg --crate-type --crate-name --edition --emit --print --out-dir --explain --target "
        "--allow --warn --force-warn --deny --forbid --cap-lints --codegen --error-format --json --color "
        "--diagnostic-width"
    ),
    write_values=options("-o --out-dir"),
    checked_values=(
        ("-C", _RUSTC_CODEGEN),
        ("--codegen", _RUSTC_CODEGEN),
        ("--emit", r"[a-z-]+(?:,[a-z-]+)*"),
        ("--print", r"[a-z-]+"),
        # a target tuple (a `.json` target specification can name the linker)
        ("--target", r"[a-z0-9_]+(?:-[a-z0-9_.]+){1,4}"),
    ),
    at_files=True,
    source="rustc 1.95.0 --help -v, -C help",
)

# rustfmt (1.95 --help): --print-config writes a file; --config-path only by plain relative path
_RUSTFMT = Allow(
    short="lvqVh",
    long=options("--check --backup --files-with-diff --verbose --quiet --version --help"),
    long_values=options("--emit --config-path --edition --style-edition --color --config"),
    config_values=options("--config-path"),
    checked_values=(("--emit", r"files|stdout"), ("--config", r"[A-Za-z0-9_=,.-]*")),
    source="rustfmt 1.95.0 --help",
)

# gofmt (the flag package: -l, -w, --l): -cpuprofile writes a file
_GOFMT = Allow(
    style="single_dash",
    long=options("--d --e --l --s --w"),
    long_values=options("--r --cpuprofile"),
    write_values=options("--cpuprofile"),
    source="gofmt (go 1.19, pkg.go.dev/cmd/gofmt: usage)",
)

# pyright: --pythonpath / -v --venvpath name an interpreter or environment it runs, -t --typeshedpath
# stubs from elsewhere: not listed; -p/--project only by plain relative path
_PYRIGHT = Allow(
    short="hw",
    short_values="pb",
    long=options(
        "--help --version --dependencies --ignoreexternal --outputjson --skipunannotated --stats --verbose "
        "--watch --warnings --writebaseline"
    ),
    long_values=options("--project --createstub --level --pythonplatform --pythonversion --verifytypes --baselinefile"),
    long_optional=options("--threads"),
    config_values=options("-p --project -b --baselinefile"),
    source="pyright 1.1 --help (microsoft.github.io/pyright: command-line)",
)

# javac (17 --help, --help-extra): class, source, processor and module paths only below the working
# directory (annotation processors and -Xplugin come from them and run in the compiler)
_JAVAC_PATHS = (
    "--cp",
    "--classpath",
    "--class-path",
    "--sourcepath",
    "--source-path",
    "--processorpath",
    "--processor-path",
    "--p",
    "--module-path",
    "--module-source-path",
)
_JAVAC = Allow(
    style="single_dash",
    long=options(
        "--g --deprecation --enable-preview --help --X --help-extra --nowarn --parameters --verbose --version "
        "--Werror --Xlint --Xdoclint"
    ),
    long_values=options(
        " ".join(_JAVAC_PATHS) + " --d --s --h --encoding --source --target --release --add-modules "
        "--limit-modules --module --m --module-version --processor --Xmaxerrs --Xmaxwarns --add-exports "
        "--add-reads"
    ),
    prefix_values=frozenset({"-g:", "-Xlint:", "-Xdoclint:", "-Xdiags:", "-A", "-Xplugin:", "-implicit:", "-proc:"}),
    write_values=options("--d --s --h"),
    checked_values=(
        *((o, _CLASS_PATH) for o in _JAVAC_PATHS),
        ("-g:", r"none|(?:lines|vars|source)(?:,(?:lines|vars|source))*"),
        ("-Xlint:", r"[a-z,-]*"),
        ("-Xdoclint:", r"[a-z,/*-]*"),
        ("-Xdiags:", r"compact|verbose"),
        ("-A", r"[A-Za-z0-9_.]+(?:=[A-Za-z0-9_.,-]*)?"),
        ("-Xplugin:", r"[A-Za-z0-9_.]+"),
        ("-implicit:", r"none|class"),
        ("-proc:", r"none|only|full"),
    ),
    at_files=True,
    source="javac 17.0.15 --help, --help-extra",
)

# java (17 --help, -X): the main class or -jar file ends the options (posix_order); system
# properties only outside java./jdk./sun./javax. and with a relative or plain value
_JAVA_PATHS = ("--cp", "--classpath", "--class-path", "--p", "--module-path")
_JAVA_XX = (
    r"[+-](?:UseG1GC|UseParallelGC|UseSerialGC|UseZGC|UseShenandoahGC|UseCompressedOops|UseContainerSupport"
    r"|ShowCodeDetailsInExceptionMessages|ExitOnOutOfMemoryError|UseStringDeduplication|TieredCompilation"
    r"|AlwaysPreTouch|PrintFlagsFinal)"
    r"|(?:MaxRAMPercentage|InitialRAMPercentage|MinRAMPercentage|MaxMetaspaceSize|MetaspaceSize"
    r"|ReservedCodeCacheSize|TieredStopAtLevel|ActiveProcessorCount|MaxGCPauseMillis|ParallelGCThreads"
    r"|ConcGCThreads|ThreadStackSize|MaxDirectMemorySize|CICompilerCount)=[0-9.]+[kKmMgG]?"
)
_JAVA = Allow(
    style="single_dash",
    long=options(
        "--jar --version --showversion --show-version --help --h --? --X --help-extra --ea --enableassertions "
        "--da --disableassertions --esa --enablesystemassertions --dsa --disablesystemassertions --verbose "
        "--dry-run --enable-preview --list-modules --show-module-resolution --validate-modules --Xint --Xcomp "
        "--Xmixed --Xbatch --Xrs --Xdiag --XshowSettings"
    ),
    long_values=options(
        " ".join(_JAVA_PATHS) + " --add-modules --enable-native-access --module --m --describe-module "
        "--add-opens --add-exports --add-reads --source --limit-modules"
    ),
    prefix_values=frozenset(
        {
            "-D",
            "-XX:",
            "-Xmx",
            "-Xms",
            "-Xss",
            "-Xmn",
            "-Xshare:",
            "-verbose:",
            "-ea:",
            "-da:",
            "-enableassertions:",
            "-disableassertions:",
            "-XshowSettings:",
            "-Xcheck:",
        }
    ),
    checked_values=(
        *((o, _CLASS_PATH) for o in _JAVA_PATHS),
        (
            "-D",
            r"(?:(?!java\.|jdk\.|sun\.|javax\.|com\.sun\.)[A-Za-z_][A-Za-z0-9_.-]*|java\.awt\.headless|file\.encoding"
            r"|user\.timezone|user\.language|user\.country)(?:=(?:" + _REL + r")?)?",
        ),
        ("-XX:", _JAVA_XX),
        *((o, r"[0-9]+[kKmMgGtT]?") for o in ("-Xmx", "-Xms", "-Xss", "-Xmn")),
        ("-Xshare:", r"auto|on|off"),
        ("-verbose:", r"class|gc|jni|module"),
        *((o, r"[A-Za-z0-9_.$]*(?:\.\.\.)?") for o in ("-ea:", "-da:", "-enableassertions:", "-disableassertions:")),
        ("-XshowSettings:", r"all|locale|properties|vm|system"),
        ("-Xcheck:", r"jni"),
    ),
    at_files=True,
    posix_order=True,
    source="java 17.0.15 --help, -X",
)

# cmake (3.25 --help; build and install modes): -D only of a project variable or a listed CMAKE_
# setting, with a plain or relative value; -P/-C scripts only by plain relative path
_CMAKE_SAFE = (
    r"CMAKE_(?:BUILD_TYPE|EXPORT_COMPILE_COMMANDS|C_STANDARD|CXX_STANDARD|CXX_STANDARD_REQUIRED|CXX_EXTENSIONS"
    r"|C_EXTENSIONS|VERBOSE_MAKEFILE|POSITION_INDEPENDENT_CODE|COLOR_DIAGNOSTICS|INSTALL_PREFIX|UNITY_BUILD"
    r"|INTERPROCEDURAL_OPTIMIZATION|COMPILE_WARNING_AS_ERROR|MESSAGE_LOG_LEVEL|SKIP_RPATH|FIND_DEBUG_MODE)"
)
_CMAKE = Allow(
    short="hNv",
    short_values="SBCDUGTAPtW",
    short_optional="Lj",
    long=options(
        "--help --version --fresh --list-presets --debug-output --debug-find --trace --trace-expand "
        "--warn-uninitialized --no-warn-unused-cli --check-system-vars --compile-no-warning-as-error "
        "--clean-first --verbose --strip"
    ),
    long_values=options(
        "--build --install --preset --target --config --component --prefix --install-prefix --log-level "
        "--log-context --graphviz --trace-format --debug-find-pkg --debug-find-var --resolve-package-references"
    ),
    long_optional=options("--parallel"),
    file_values=options("-S"),
    config_values=options("-P -C"),
    write_values=options("-B --prefix --install-prefix --graphviz"),
    checked_values=(
        ("-D", r"(?:(?!CMAKE_)[A-Za-z_][A-Za-z0-9_]*|" + _CMAKE_SAFE + r")(?::[A-Z]+)?=(?:" + _REL + r")?"),
        ("-W", r"(?:no-)?(?:error=)?(?:dev|deprecated)"),
        ("-L", r"A?H?"),
        ("--preset", r"[A-Za-z0-9_.-]+"),
        ("-j", r"[0-9]+"),
        ("--parallel", r"[0-9]+"),
    ),
    source="cmake 3.25.1 --help (and cmake --build, cmake --install)",
)

PROGRAMS = (
    Program("rustc", allow=_RUSTC),
    Program("rustfmt", allow=_RUSTFMT),
    Program("gofmt", allow=_GOFMT),
    Program("pyright", allow=_PYRIGHT),
    Program("javac", allow=_JAVAC),
    Program("java", allow=_JAVA),
    Program("cmake", allow=_CMAKE),
)
