"""Environment variables that change which program runs, what it loads, or its configuration:
assigning one (`PATH=. ls`, `env LD_PRELOAD=x cmd`, `export GIT_SSH_COMMAND=..`) is an unknown
statement."""

from __future__ import annotations

__all__ = ("DANGEROUS_ENV", "DANGEROUS_ENV_PREFIXES", "DANGEROUS_ENV_SUFFIXES", "SAFE_ENV", "env_is_dangerous")

DANGEROUS_ENV = frozenset({
    "PATH", "IFS", "BASH_ENV", "ENV", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "CDPATH",
    "GLOBIGNORE", "HOME", "PAGER", "MANPAGER", "GIT_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR",
    "SHELL", "BROWSER", "LESSOPEN", "LESSCLOSE", "LESSKEY", "TERMINFO", "INPUTRC", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PERL5OPT", "PERL5LIB",
    "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "SSH_ASKPASS", "SUDO_ASKPASS", "SSH_AUTH_SOCK", "TMPDIR",
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "ZDOTDIR", "MAKEFLAGS", "MAKEFILES", "CC", "CXX", "LD",
    "NPM_CONFIG_PREFIX", "npm_config_script_shell", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "no_proxy",
    "NO_PROXY", "TZDIR", "LOCPATH", "NLSPATH", "GCONV_PATH", "HOSTALIASES",
    "RESOLV_HOST_CONF", "MALLOC_CHECK_", "PS1", "PS2", "PS0",
})
DANGEROUS_ENV_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_", "PYTHON", "PERL", "RUBY", "NODE_",
                          "NPM_CONFIG_", "npm_config_", "CARGO_", "RUSTC", "RUSTFLAGS", "GOFLAGS",
                          "GOPROXY", "PIP_", "UV_", "POETRY_", "DOCKER_", "KUBECONFIG", "AWS_",
                          "GOOGLE_", "AZURE_", "SSL_", "CURL_", "WGET", "LC_", "LANGUAGE")
DANGEROUS_ENV_SUFFIXES = ("_OPTIONS", "_OPTS", "FLAGS", "CONFIG", "_CONFIG_PATH", "PATH", "_ADDOPTS", "_PLUGINS",
                          "_COMMAND", "_CMD", "_PROGRAM", "_SHELL", "_EDITOR", "_PAGER", "_WRAPPER", "_EXEC",
                          "_PRELOAD", "_HOME", "_ASKPASS", "_HOOK", "_HOOKS", "RC", "_INIT", "_STARTUP")
SAFE_ENV = frozenset({"LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LANGUAGE", "PYTHONUNBUFFERED",
                       "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONFAULTHANDLER",
                       "PYTHONUTF8", "PYTHONIOENCODING", "NODE_ENV", "GIT_TERMINAL_PROMPT",
                       "RUST_BACKTRACE", "CARGO_TERM_COLOR", "CI", "DEBUG", "TERM", "NO_COLOR", "FORCE_COLOR",
                       "LANG", "TZ", "COLUMNS", "LINES", "RUST_LOG", "LOG_LEVEL", "VERBOSE", "PYTEST_TIMEOUT",
                       "NODE_NO_WARNINGS", "GOTRACEBACK"})


def env_is_dangerous(name: str) -> bool:
    """Variables that change which program runs, what it loads, or its configuration."""
    if name in SAFE_ENV:
        return False
    return (name in DANGEROUS_ENV or name.startswith(DANGEROUS_ENV_PREFIXES)
            or name.upper().endswith(DANGEROUS_ENV_SUFFIXES))
