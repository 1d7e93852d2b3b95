"""The grammar walk of the shell classifier: every statement, word, expansion and redirection of a
tree-sitter-bash parse, down to the simple commands, which ``_shell_commands`` classifies per
program; and the checks around the walk (inputs refused before parsing, nodes the walk must have
visited, bytes the parser dropped). Private to the shell classifier."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Literal

import tree_sitter
import tree_sitter_bash
from tree_sitter import Node

from agp.policy.classify._shell_commands import Commands
from agp.policy.classify._shell_state import (
    MAX_COMMAND_BYTES,
    MAX_CWDS,
    MAX_DEPTH,
    MAX_NESTING,
    MAX_NODES,
    Ctx,
    Env,
    Stdin,
    uniq,
)
from agp.policy.classify._shell_words import (
    BRACE_RE,
    CONTINUATION_IN_WORD,
    RESERVED_WORDS,
    Abort,
    Word,
    ansi_c_well_formed,
    check_bare_word,
    comment_starts_a_word,
    decode_ansi_c,
    is_option,
    looks_pathy,
    nesting_exceeds,
    program_name,
    unescape_dquoted,
    unescape_heredoc,
    unescape_unquoted,
)
from agp.policy.classify._statement import Statement
from agp.policy.classify.programs import FILE_TESTS, NO_PATH_OPERANDS, env_is_dangerous

__all__ = ("Walker", "classify_code")

_LANGUAGE = tree_sitter.Language(tree_sitter_bash.language())
_LOCAL = threading.local()


def _parser() -> tree_sitter.Parser:
    p = getattr(_LOCAL, "parser", None)
    if p is None:
        p = _LOCAL.parser = tree_sitter.Parser(_LANGUAGE)
    return p


_DEV_HARMLESS = frozenset(
    {
        "/dev/null",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/fd/0",
        "/dev/fd/1",
        "/dev/fd/2",
        "/dev/zero",
        "/dev/tty",
    }
)
_WORD_TYPES = frozenset(
    {
        "word",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "number",
        "arithmetic_expansion",
        "brace_expression",
    }
)
# the words of a case statement (its subject and patterns) and of a for loop's list
_CASE_WORD_TYPES = _WORD_TYPES | {"extglob_pattern"}
_LOOP_WORD_TYPES = _WORD_TYPES | {"command_substitution", "process_substitution"}
_REDIRECT_TYPES = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_STATEMENT_TYPES = frozenset(
    {
        "command",
        "pipeline",
        "list",
        "subshell",
        "compound_statement",
        "redirected_statement",
        "file_redirect",
        "heredoc_redirect",
        "herestring_redirect",
        "negated_command",
        "if_statement",
        "while_statement",
        "for_statement",
        "c_style_for_statement",
        "case_statement",
        "function_definition",
        "variable_assignment",
        "variable_assignments",
        "declaration_command",
        "unset_command",
        "test_command",
    }
)
# node types whose every occurrence the walker must have visited (checked after the walk)
_COVERED_TYPES = ("command", "file_redirect", "heredoc_redirect", "herestring_redirect")
_COMMAND_NAME_QUERY = tree_sitter.Query(_LANGUAGE, "(command_name) @n")
_COVERAGE_QUERY = tree_sitter.Query(
    _LANGUAGE, "[{}] @n (comment) @c".format(" ".join(f"({t})" for t in _COVERED_TYPES))
)


class Walker(Commands):
    """The grammar walk: statements, words, redirections, simple commands."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    # ---- emit helpers
    def emit(self, st: Statement) -> None:
        self.ctx.out.append(st)

    def unknown(self, env: Env, text: str, reason: str, program: str = "", flags: tuple[str, ...] = ()) -> None:
        self.emit(
            Statement(
                kind="unknown",
                program=program,
                text=text[:500],
                reason=reason,
                via=env.via,
                cwd=env.cwds[0] if len(env.cwds) == 1 else "",
                flags=flags,
            )
        )

    def _paths(self, words: Sequence[Word], env: Env) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        if not words:
            return (), ()
        ps: dict[tuple[str, bool], None] = {}
        cwds = env.cwds
        for w in words:
            if not w.literal:
                ps[(w.source, False)] = None
                continue
            v = w.value
            if v[:1] in ("/", "~"):
                ps[(v, True)] = None
            else:
                for c in cwds:
                    if not c:
                        ps[(v, False)] = None
                    else:
                        ps[(c.rstrip("/") + "/" + v if v not in ("", ".") else c, True)] = None
        return tuple(p for p, _ in ps), tuple(lit for _, lit in ps)

    def file_stmt(
        self,
        kind: Literal["read", "write"],
        words: list[Word],
        env: Env,
        text: str,
        program: str = "",
        flags: tuple[str, ...] = (),
    ) -> None:
        if not words:
            return
        keep = []
        for w in words:
            if w.literal and w.value in _DEV_HARMLESS:
                continue
            if w.literal and (w.value.startswith("/dev/tcp/") or w.value.startswith("/dev/udp/")):
                parts = w.value.split("/")
                host = parts[3].lower() if len(parts) > 3 else None
                self.emit(Statement(kind="url", host=host, url=w.value, text=text[:500], via=env.via))
                self.unknown(env, text, "bash network redirection (/dev/tcp, /dev/udp)")
                continue
            keep.append(w)
        if not keep:
            return
        paths, lits = self._paths(keep, env)
        self.emit(
            Statement(
                kind=kind,
                program=program,
                paths=paths,
                paths_literal=lits,
                text=text[:500],
                via=env.via,
                cwd=env.cwds[0] if len(env.cwds) == 1 else "",
                flags=flags + ("glob",) if any(x.glob for x in keep) else flags,
            )
        )

    # ---- words
    def word(self, node: Node, env: Env) -> Word:
        t = node.type
        src = self.ctx.text(node)
        if t == "word":
            check_bare_word(src)
            v, glob, pat = unescape_unquoted(src)
            return Word(v, True, glob, "{" in pat and bool(BRACE_RE.search(pat)), False, src)
        if t == "number":
            return Word(src, True, False, False, False, src)
        if t == "raw_string":
            if len(src) < 2 or src[0] != "'" or src[-1] != "'" or "'" in src[1:-1]:
                raise Abort(f"the parser's single-quoted string {src[:40]!r} is not what bash reads")
            return Word(src[1:-1], True, False, False, True, src)
        if t == "ansi_c_string":
            if not ansi_c_well_formed(src):
                # tree-sitter-bash reads $'\\'' as one string; bash ends it one quote earlier, and
                # everything after is tokenized differently (a command can hide in the difference)
                raise Abort(f"the parser's $'..' string {src[:40]!r} is not what bash reads")
            dec = decode_ansi_c(src[2:-1])
            if dec is None:
                return Word(src, False, False, False, True, src)
            return Word(dec, True, False, False, True, src)
        if t in ("string", "translated_string"):
            # the value comes from the source between the quotes (the parser's tokens inside a
            # string do not always cover its blanks)
            open_len = 2 if src.startswith('$"') else 1
            literal = len(src) >= open_len + 1 and src.endswith('"')
            for c in node.named_children:
                if c.type != "string_content":
                    literal = False
                    self.expansion(c, env)
            if literal:
                return Word(unescape_dquoted(src[open_len:-1]), True, False, False, True, src)
            return Word(src, False, False, False, True, src)
        if t == "concatenation":
            vals = []
            pats = []
            literal = True
            glob = False
            quoted = False
            for c in node.children:
                if c.type == "word":
                    wsrc = self.ctx.text(c)
                    check_bare_word(wsrc)
                    v, g, pat = unescape_unquoted(wsrc)
                    vals.append(v)
                    pats.append(pat)
                    glob = glob or g
                    continue
                w = self.word(c, env)
                literal = literal and w.literal
                glob = glob or w.glob
                quoted = quoted or w.quoted
                vals.append(w.value)
                pats.append("_" * len(w.value) if w.quoted else w.value)
                if w.brace:
                    pats.append("{,}")
            brace = bool(BRACE_RE.search("".join(pats)))
            if brace:
                literal = False
            return Word("".join(vals) if literal else src, literal, glob, brace, quoted, src)
        if t == "brace_expression":
            return Word(src, False, False, True, False, src)
        # expansions and substitutions: not literal; walk what they run
        self.expansion(node, env)
        return Word(src, False, False, False, False, src)

    def expansion(self, node: Node, env: Env) -> None:
        """Walk whatever a non-literal part runs (command/process substitutions anywhere inside)."""
        t = node.type
        if t in _NAME_ONLY:
            # `$x`, `$1`, `$@` hold a name and nothing else (tree-sitter-bash's grammar); a command
            # found below anyway would be caught by the coverage check in classify_code
            return
        if t == "expansion" and "@P" in self.ctx.text(node):
            self.unknown(
                env,
                self.ctx.text(node),
                "${var@P} expands a value as a prompt string, running command substitutions in it",
            )
        if t == "command_substitution":
            self.substitution(node, env, "$(..)")
            return
        if t == "process_substitution":
            self.substitution(node, env, "<(..)")
            return
        if t in ("arithmetic_expansion", "subscript"):
            self.arithmetic(node, env)
            return
        for c in node.named_children:
            self.expansion(c, env)

    def arithmetic(self, node: Node, env: Env) -> None:
        # bash evaluates array subscripts inside arithmetic recursively, including the VALUES of
        # variables: x='a[$(cmd)]'; echo $((x)) runs cmd. A variable in arithmetic whose value is
        # not known here is therefore code of unknown content.
        for n in _iter_named(node):
            if n.type in ("command_substitution", "process_substitution"):
                continue
            if n.type in ("variable_name", "simple_expansion", "expansion"):
                name = self.ctx.text(n).lstrip("$").strip("{}")
                if not name.isdigit() and name not in ("?", "#", "$", "!", "-") and name not in self._numeric_vars:
                    self.unknown(
                        env, self.ctx.text(node), f"arithmetic evaluation of variable {name!r}: its value can run code"
                    )
                    break
        for c in node.named_children:
            if c.type in ("command_substitution", "process_substitution"):
                self.expansion(c, env)
            else:
                for n in _iter_subs(c):
                    self.expansion(n, env)

    def substitution(self, node: Node, env: Env, label: str) -> None:
        src = self.ctx.text(node)
        sub_env = Env(env.cwds, env.via + (label,), env.depth + 1)
        if src.startswith("`"):
            # the body is re-parsed on its own below: what the outer parse saw inside is covered
            for n in _iter_named(node):
                self.ctx.visited.add(n.start_byte)
            # bash removes one level of backslash escaping, then parses the body
            inner = re.sub(r"\\([$`\\])", r"\1", src[1:-1])
            self.nested(inner, Env(env.cwds, env.via + ("`..`",), env.depth + 1), "`..`", src)
            return
        for c in node.named_children:
            self.stmt(c, sub_env, Stdin("inherit"))

    def nested(self, code: str, env: Env, label: str, text: str) -> None:
        if env.depth > MAX_DEPTH:
            self.unknown(env, text, f"nesting deeper than {MAX_DEPTH} levels")
            return
        inner = classify_code(code, env.cwds, env.via, env.depth, self.ctx.functions, self.ctx.origin)
        self.ctx.out.extend(inner)

    # ---- statements
    def stmt(self, node: Node, env: Env, stdin: Stdin) -> tuple[str, ...]:
        """Walk one statement node; returns the candidate cwds after it."""
        t = node.type
        if t in ("comment", "heredoc_body", "heredoc_start", "heredoc_end") or not node.is_named:
            return env.cwds
        if t == "command":
            return self.command(node, env, stdin, [])
        if t in _REDIRECT_TYPES:  # `$(< file)`, `exec 3>f` forms: a redirection on its own
            self.redirect(node, env)
            return env.cwds
        if t == "redirected_statement":
            return self.redirected(node, env, stdin)
        if t == "compound_statement" and node.children and node.children[0].type == "((":
            # `(( v > 1 ))`: an arithmetic command, evaluated like $(( ))
            self.arithmetic(node, env)
            return env.cwds
        if t in ("program", "compound_statement", "list", "do_group", "else_clause", "elif_clause"):
            return self.sequence(node.named_children, env, stdin, node)
        if t == "subshell":
            self.sequence(node.named_children, env, stdin, node)
            return env.cwds
        if t == "pipeline":
            named = node.named_children
            for i, c in enumerate(named):
                self.stmt(c, env, stdin if i == 0 else Stdin("pipe"))
            return env.cwds
        if t == "negated_command":
            return self.sequence(node.named_children, env, stdin, node)
        if t == "function_definition":
            name_node = node.child_by_field_name("name")
            body = node.child_by_field_name("body")
            name = self.ctx.text(name_node) if name_node is not None else ""
            if not name or body is None:
                self.unknown(env, self.ctx.text(node), "function definition without a name or body")
                return env.cwds
            self.ctx.functions[name] = (body, env)
            return env.cwds
        if t in ("variable_assignment", "variable_assignments"):
            assigns = [node] if t == "variable_assignment" else list(node.named_children)
            for a in assigns:
                self.assignment(a, env, persistent=True)
            return env.cwds
        if t == "declaration_command":
            return self.declaration(node, env)
        if t == "unset_command":
            words = [self.word(c, env) for c in node.named_children]
            self.exec_stmt("unset", [Word("unset")] + words, env, self.ctx.text(node), ())
            return env.cwds
        if t in ("for_statement", "while_statement", "c_style_for_statement"):
            return self.loop(node, env, stdin)
        if t in ("if_statement", "case_statement", "case_item"):
            return self.branches(node, env, stdin)
        if t == "test_command":
            self.test(node, env)
            return env.cwds
        if t in ("command_substitution", "process_substitution"):
            self.expansion(node, env)
            return env.cwds
        # anything else (arithmetic compound '((..))', expressions): walk substitutions inside,
        # treat arithmetic conservatively
        if self.ctx.text(node).startswith("(("):
            self.arithmetic(node, env)
            return env.cwds
        for c in node.named_children:
            if c.type in _STATEMENT_TYPES:
                self.stmt(c, env, stdin)
            else:
                for n in _iter_subs(c):
                    self.expansion(n, env)
        return env.cwds

    def sequence(self, children: list[Node], env: Env, stdin: Stdin, parent: Node | None) -> tuple[str, ...]:
        cwds = env.cwds
        cur = env
        for c in children:
            if not c.is_named or c.type == "comment":
                continue
            # after a possible cd, the previous directories remain possible (cd can fail)
            if cur.cwds is not cwds:
                cur = Env(cwds, env.via, env.depth)
            after = self.stmt(c, cur, stdin)
            if after is not cwds:
                cwds = _merge_cwds(cwds, after)
        return cwds

    def branches(self, node: Node, env: Env, stdin: Stdin) -> tuple[str, ...]:
        cwds = env.cwds
        for c in node.named_children:
            if c.type in _CASE_WORD_TYPES:
                self.word(c, env)  # case subjects/patterns: walk substitutions
                continue
            after = self.stmt(c, Env(cwds, env.via, env.depth), stdin)
            cwds = _merge_cwds(cwds, after)
        return cwds

    def loop(self, node: Node, env: Env, stdin: Stdin) -> tuple[str, ...]:
        if node.type == "c_style_for_statement":
            for c in node.named_children:
                if c.type != "do_group" and c.type != "compound_statement":
                    for n in _iter_subs(c):
                        self.expansion(n, env)
                    # loop counters assigned numbers are safe in arithmetic
                    for n in _iter_named(c):
                        if n.type == "variable_assignment" or n.type == "binary_expression":
                            left = n.child_by_field_name("left") or n.child_by_field_name("name")
                            if left is not None and left.type == "variable_name":
                                self._numeric_vars.add(self.ctx.text(left))
        else:
            for c in node.children:
                if c.type in _LOOP_WORD_TYPES:
                    w = self.word(c, env)
                    if w.glob:
                        # `for f in /etc/*`: the expansion lists that directory, and the body prints it
                        self.file_stmt("read", [w], env, self.ctx.text(node), "for", flags=("glob",))
        body = node.child_by_field_name("body")
        cond = list(node.children_by_field_name("condition")) if node.type == "while_statement" else []
        # a cd inside a loop body repeats: after one, the directory is unknown
        changes_dir = _mentions_cd(self.ctx, node)
        loop_env = Env(env.cwds + ("",) if changes_dir else env.cwds, env.via, env.depth)
        if changes_dir:
            loop_env.cwds = tuple(uniq(loop_env.cwds))
        for c in cond:
            if c.is_named:
                self.stmt(c, loop_env, stdin)
        if body is not None:
            self.stmt(body, loop_env, stdin)
        return loop_env.cwds if changes_dir else env.cwds

    def test(self, node: Node, env: Env) -> None:
        """[ .. ] / [[ .. ]]: an exec statement for '[' or '[['; operands that look like paths are its
        paths; arithmetic comparisons inside [[ ]] evaluate their operands as arithmetic."""
        text = self.ctx.text(node)
        prog = "[[" if text.startswith("[[") else "["
        if prog == "[[" and re.search(r"\s-(eq|ne|lt|le|gt|ge)\s", text):
            self.arithmetic(node, env)
        # the parser's expression tree for [ ] does not follow word boundaries ('~' is an operator
        # to it): collect the leaves and rebuild words from pieces that touch in the source
        pieces = []
        stack = list(reversed(node.children))
        while stack:
            n = stack.pop()
            if (
                n.type in _WORD_TYPES
                or n.type
                in ("command_substitution", "process_substitution", "test_operator", "regex", "extglob_pattern")
                or not n.is_named
            ):
                if not n.is_named and n.type in ("[", "]", "[[", "]]"):
                    continue
                pieces.append(n)
            else:
                stack.extend(reversed(n.children))
        words: list[Word] = [Word(prog)]
        group: list[Node] = []
        for piece in [*pieces, None]:
            if group and (piece is None or piece.start_byte != group[-1].end_byte):
                parts = [
                    self.word(g, env)
                    if g.is_named and g.type not in ("test_operator", "regex", "extglob_pattern")
                    else Word(self.ctx.text(g), True, g.type in ("regex", "extglob_pattern"))
                    for g in group
                ]
                src = self.ctx.src[group[0].start_byte : group[-1].end_byte].decode("utf-8", "replace")
                lit = all(p.literal for p in parts)
                words.append(
                    Word(
                        "".join(p.value for p in parts) if lit else src,
                        lit,
                        any(p.glob for p in parts),
                        any(p.brace for p in parts),
                        any(p.quoted for p in parts),
                        src,
                    )
                )
                group = []
            if piece is not None:
                group.append(piece)
        words.append(Word("]]" if prog == "[[" else "]"))
        args = words[1:-1]
        self.code_options(prog, args, env, text)
        paths = []
        for i, a in enumerate(args):
            prev = args[i - 1].value if i else ""
            if (a.literal and not is_option(a) and looks_pathy(a.value)) or (
                prev in FILE_TESTS and (not a.literal or not is_option(a))
            ):
                paths.append(a)
        self.exec_stmt(prog, words, env, text, paths, self.exec_flags(prog, args))

    # ---- assignments
    @property
    def _numeric_vars(self) -> set[str]:
        s = getattr(self.ctx, "numeric_vars", None)
        if s is None:
            s = self.ctx.numeric_vars = set()  # type: ignore[attr-defined]
        return s

    def assignment(self, node: Node, env: Env, persistent: bool, prefix_of: str = "") -> None:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        text = self.ctx.text(node)
        if name_node is None:
            self.unknown(env, text, "assignment without a name")
            return
        if name_node.type == "subscript":
            self.arithmetic(name_node, env)
            name = self.ctx.text(name_node.child_by_field_name("name") or name_node)
        else:
            name = self.ctx.text(name_node)
        value: Word | None = None
        if value_node is not None:
            if value_node.type == "array":
                for c in value_node.named_children:
                    w = self.word(c, env)
                    if w.literal and ("$(" in w.value or "`" in w.value or "[" in w.value):
                        self.unknown(env, text, "literal value holds shell code a later evaluation may run")
                value = Word(self.ctx.text(value_node), False, source=self.ctx.text(value_node))
            else:
                value = self.word(value_node, env)
        if env_is_dangerous(name):
            where = f" for {prefix_of}" if prefix_of else ""
            self.unknown(env, text, f"assignment to {name}{where} changes how later commands are found or run")
        if value is not None and value.literal and re.search(r"\$\(|`|\[.*\]", value.value):
            self.unknown(env, text, "literal value holds shell code a later evaluation may run")
        if persistent:
            if value is not None and value.literal and re.fullmatch(r"-?[0-9]+", value.value or "0"):
                self._numeric_vars.add(name)
            else:
                self._numeric_vars.discard(name)

    def declaration(self, node: Node, env: Env) -> tuple[str, ...]:
        kw = node.children[0].type if node.children else "declare"
        words: list[Word] = [Word(kw)]
        text = self.ctx.text(node)
        for c in node.named_children:
            if c.type == "variable_assignment":
                self.assignment(c, env, persistent=True)
                words.append(Word(self.ctx.text(c), True, source=self.ctx.text(c)))
            elif c.type == "variable_name":
                words.append(Word(self.ctx.text(c)))
            else:
                w = self.word(c, env)
                words.append(w)
                if not w.literal:
                    self.unknown(env, text, f"{kw} with a non-literal argument can assign any variable")
        self.exec_stmt(kw, words, env, text, ())
        return env.cwds

    # ---- redirections
    def redirected(self, node: Node, env: Env, stdin: Stdin) -> tuple[str, ...]:
        # bytes between the body and its redirections that no child covers: the parser dropped a word
        # bash passes (tree-sitter-bash loses a lone `-` before `2>x`: `rm - 2>/dev/null`)
        src, covered_to = self.ctx.src, node.start_byte
        for c in node.children:
            if c.start_byte > covered_to and src[covered_to : c.start_byte].replace(b"\\\n", b"").strip(b" \t"):
                gap = src[covered_to : c.start_byte].decode("utf-8", "replace").strip()
                self.unknown(env, self.ctx.text(node), f"the parser skipped {gap!r} in this command")
            covered_to = max(covered_to, c.end_byte)
        body = node.child_by_field_name("body")
        redirects = node.children_by_field_name("redirect")
        extra: list[tuple[str, Node]] = []  # statements that follow (tree-sitter hangs `| sh`, `&& x` under heredocs)
        arg_nodes: list[Node] = []  # words the parser hung under a redirection that are the command's arguments
        for r in redirects:
            self.redirect(r, env, extra_out=extra, args_out=arg_nodes)
        st_in = stdin
        for r in redirects:
            st_in = self.stdin_of(r, env, st_in)
        if body is None:
            return env.cwds
        if body.type == "command":
            after = self.command(body, env, st_in, arg_nodes)
        else:
            if arg_nodes:
                self.unknown(env, self.ctx.text(node), "words after a redirection of a compound command")
            after = self.stmt(body, env, st_in)
        cwds = _merge_cwds(env.cwds, after)
        for kind, n in extra:
            if kind == "pipe":
                self.stmt(n, Env(cwds, env.via, env.depth), Stdin("pipe"))
            else:
                cwds = _merge_cwds(cwds, self.stmt(n, Env(cwds, env.via, env.depth), stdin))
        return cwds

    def stdin_of(self, r: Node, env: Env, current: Stdin) -> Stdin:
        if r.type == "heredoc_redirect":
            start = None
            body = None
            for c in r.children:
                if c.type == "heredoc_start":
                    start = self.ctx.text(c)
                elif c.type == "heredoc_body":
                    body = c
            if body is None:
                return Stdin("heredoc", "")
            quoted = start is not None and any(q in start for q in "'\"\\")
            raw = self.ctx.text(body)
            if start is not None and self.ctx.text(r).startswith("<<-"):
                raw = "\n".join(line.lstrip("\t") for line in raw.split("\n"))
            if quoted:
                return Stdin("heredoc", raw)
            if any(c.is_named and c.type != "heredoc_content" for c in body.children) or "`" in raw:
                return Stdin("heredoc", None)
            return Stdin("heredoc", unescape_heredoc(raw))
        if r.type == "herestring_redirect":
            ws = [self.word(c, env) for c in r.named_children]
            if len(ws) == 1 and ws[0].literal:
                return Stdin("herestring", ws[0].value + "\n")
            return Stdin("herestring", None)
        if r.type == "file_redirect":
            op = _redirect_op(r)
            desc = r.child_by_field_name("descriptor")
            if op in ("<", "<>") and (desc is None or self.ctx.text(desc) == "0"):
                return Stdin("file", None)
        return current

    def redirect(
        self,
        r: Node,
        env: Env,
        extra_out: list[tuple[str, Node]] | None = None,
        program: str = "",
        args_out: list[Node] | None = None,
    ) -> None:
        self.ctx.visited.add(r.start_byte)
        text = self.ctx.text(r)
        if r.type == "file_redirect":
            op = _redirect_op(r)
            dests = r.children_by_field_name("destination")
            if len(dests) > 1:
                # `> f a b`: the parser lists a and b as destinations; to bash they are arguments
                if args_out is None:
                    self.unknown(env, text, "words after a redirection outside a simple command")
                else:
                    args_out.extend(dests[1:])
                dests = dests[:1]
            ws = [self.word(d, env) for d in dests]
            if op in (">&", "<&") and ws and ws[0].literal and re.match(r"[0-9]+[^0-9]", ws[0].source):
                # bash reads `2>&1cmd` as `2>&1 cmd`; the parser as a redirection to the file `1cmd`
                raise Abort(f"redirection {text!r}: bash and the parser split it differently")
            if op in (">&", "<&", ">&-", "<&-") and all(
                w.literal and (w.value.isdigit() or w.value == "-") for w in ws
            ):
                return  # fd duplication / close
            if op in (">&", "<&") and any(not w.literal for w in ws):
                self.unknown(env, text, "redirection to a computed file descriptor or file")
                return
            if op in ("<",):
                self.file_stmt("read", ws, env, text, program)
            elif op == "<>":
                self.file_stmt("read", ws, env, text, program)
                self.file_stmt("write", ws, env, text, program)
            else:
                self.file_stmt("write", ws, env, text, program, flags=("append",) if ">>" in op else ())
            return
        if r.type == "heredoc_redirect":
            self.check_heredoc(r)
            start_quoted = False
            for c in r.children:
                if c.type == "heredoc_start":
                    s = self.ctx.text(c)
                    start_quoted = any(q in s for q in "'\"\\")
            for i, c in enumerate(r.children):
                fname = r.field_name_for_child(i)
                if fname == "argument":
                    # `cat <<EOF file`: file is cat's argument
                    if args_out is None:
                        self.unknown(env, text, "words after a here-doc outside a simple command")
                    else:
                        args_out.append(c)
                    continue
                if c.type == "heredoc_body":
                    if not start_quoted:
                        for n in _iter_subs(c):
                            self.expansion(n, env)
                        if "`" in self.ctx.text(c):
                            self.unknown(env, self.ctx.text(c), "backtick in an unquoted here-doc body")
                elif c.type in ("file_redirect", "herestring_redirect"):
                    self.redirect(c, env, extra_out, program, args_out)
                elif c.type == "pipeline" and extra_out is not None:
                    for n in c.named_children:
                        extra_out.append(("pipe", n))
                elif c.is_named and c.type not in ("heredoc_start", "heredoc_end") and extra_out is not None:
                    extra_out.append(("seq", c))
                elif c.is_named and c.type not in ("heredoc_start", "heredoc_end"):
                    self.stmt(c, env, Stdin())
                del fname
            return
        if r.type == "herestring_redirect":
            named = r.named_children
            for c in named[:1]:
                self.word(c, env)
            if len(named) > 1:
                if args_out is None:
                    self.unknown(env, text, "words after a here-string outside a simple command")
                else:
                    args_out.extend(named[1:])
            return
        # unknown redirect node
        for n in _iter_subs(r):
            self.expansion(n, env)

    def check_heredoc(self, r: Node) -> None:
        """Where does bash end this here-doc? If not where the parser ended it, refuse the string:
        lines the parser put in the body could be commands to bash (and the other way round)."""
        start = body = end = None
        for c in r.children:
            if c.type == "heredoc_start":
                start = self.ctx.text(c)
            elif c.type == "heredoc_body":
                body = c
            elif c.type == "heredoc_end":
                end = self.ctx.text(c)
        if start is None:
            raise Abort("here-doc without a delimiter")
        if "$" in start or "`" in start:
            raise Abort(f"here-doc delimiter {start!r} is not a plain word")
        quoted = any(q in start for q in "'\"\\")
        delim = re.sub(r"\\(.)", r"\1", start).replace("'", "").replace('"', "")
        strip_tabs = self.ctx.text(r).startswith("<<-")
        if body is None and end is None:
            return  # an empty here-doc at the end of the string
        text = self.ctx.text(body) if body is not None else ""
        if not quoted and re.search(r"\\\n", text):
            raise Abort(
                "backslash-newline inside an unquoted here-doc (bash joins the lines before looking for the delimiter)"
            )
        for line in text.split("\n"):
            if (line.lstrip("\t") if strip_tabs else line) == delim:
                raise Abort(f"bash ends this here-doc at an earlier {delim!r} line than the parser does")
        if end is not None and end != delim:
            raise Abort(f"here-doc end {end!r} is not the delimiter {delim!r}")
        # anything the parser attached to the operator's line must really be on that line: a
        # newline (not escaped) before it means bash had already started reading the body
        start_node = next(c for c in r.children if c.type == "heredoc_start")
        for c in r.children:
            if c.type in ("heredoc_start", "heredoc_body", "heredoc_end") or c.start_byte <= start_node.end_byte:
                continue
            between = self.ctx.src[start_node.end_byte : c.start_byte].replace(b"\\\n", b"")
            if b"\n" in between:
                raise Abort("the parser continued a here-doc's command line into its body")

    # ---- simple commands
    def command(self, node: Node, env: Env, stdin: Stdin, outer_redirects: list[Node]) -> tuple[str, ...]:
        """outer_redirects: argument nodes found under redirections (appended to the words)."""
        outer_redirects = list(outer_redirects)
        self.ctx.visited.add(node.start_byte)
        src = self.ctx.src
        start, end = node.start_byte, node.end_byte
        text = src[start:end].decode("utf-8", "replace")
        words: list[Word] = []
        prefix_assigns = []
        last_end = -1
        gap_from = start
        for c in node.children:
            cs = c.start_byte
            if cs > gap_from and not (cs == gap_from + 1 and src[gap_from] == 32):
                gap = src[gap_from:cs].replace(b"\\\n", b"")
                if gap.strip(b" \t"):
                    # bytes the parser did not attribute to any word (`\ x` at a word start): bash and
                    # the parser disagree about the words here
                    self.unknown(env, text, f"the parser skipped {gap.decode('utf-8', 'replace')!r} in this command")
            ce = c.end_byte
            if ce > gap_from:
                gap_from = ce
            ct = c.type
            if ct == "variable_assignment":
                prefix_assigns.append(c)
                continue
            if ct in _REDIRECT_TYPES:
                self.redirect(c, env, args_out=outer_redirects)
                stdin = self.stdin_of(c, env, stdin)
                last_end = -1
                continue
            if ct == "command_name":
                cn = c.named_children
                w = self.word(cn[0] if cn else c, env)
            elif c.is_named:
                w = self.word(c, env)
            elif ct.strip():
                # an anonymous token where a word is expected ('$' of $"..") : not literal
                w = Word(self.ctx.text(c), False, source=self.ctx.text(c))
            else:
                continue
            if words and cs == last_end:
                # the parser split what bash reads as one word (no blank between them): join them
                prev = words[-1]
                lit = prev.literal and w.literal
                joined = prev.source + w.source
                words[-1] = Word(
                    prev.value + w.value if lit else joined,
                    lit,
                    prev.glob or w.glob,
                    prev.brace or w.brace,
                    prev.quoted or w.quoted,
                    joined,
                )
            else:
                words.append(w)
            last_end = ce
        for n in outer_redirects:  # arguments the parser hung under redirections
            words.append(self.word(n, env))
        # an escaped blank right after the command (`x \ ;`) is a word to bash that the parser drops
        j = gap_from
        n_src = len(src)
        while j < n_src and (src[j] == 32 or src[j] == 9):
            j += 1
        if j + 1 < n_src and src[j] == 0x5C and src[j + 1] != 10:
            self.unknown(env, text, "the parser skipped an escaped character after this command")
        prog_hint = words[0].value if words and words[0].literal else ""
        for a in prefix_assigns:
            self.assignment(a, env, persistent=False, prefix_of=prog_hint)
        if not words:
            return env.cwds
        return self.dispatch(words, env, stdin, text)

    def exec_stmt(
        self,
        program: str,
        words: list[Word],
        env: Env,
        text: str,
        paths_words: list[Word] | tuple[Word, ...],
        flags: tuple[str, ...] = (),
    ) -> None:
        paths, lits = self._paths(paths_words, env)
        if env.cwds != self.ctx.origin and program not in NO_PATH_OPERANDS:
            # the command runs somewhere a `cd` in this string chose: that directory is touched too
            # (ls, git, make, rg with no operand work on it)
            extra = {(c if c else "$PWD", bool(c)): None for c in env.cwds}
            for p, lit in zip(paths, lits, strict=True):
                extra.pop((p, lit), None)
            if extra:
                paths = paths + tuple(p for p, _ in extra)
                lits = lits + tuple(lit for _, lit in extra)
        self.ctx.out.append(
            Statement.fast(
                "exec",
                program,
                tuple([w.value if w.literal else w.source for w in words]),
                tuple([w.literal for w in words]),
                tuple([w.glob for w in words]),
                paths,
                lits,
                env.cwds[0] if len(env.cwds) == 1 else "",
                flags,
                env.via,
                text[:500],
            )
        )

    def dispatch(self, words: list[Word], env: Env, stdin: Stdin, text: str) -> tuple[str, ...]:
        """Classify one simple command given its evaluated words. Returns the cwds after it."""
        first = words[0]
        if not first.literal:
            self.unknown(env, text, f"command name is decided at run time: {first.source}")
            # its arguments still name files
            self.exec_stmt("", words, env, text, words[1:], ("computed_program",))
            return env.cwds
        if first.glob or first.brace:
            self.unknown(env, text, f"command name contains a glob or brace expansion: {first.source}")
            return env.cwds
        if first.value == "":
            self.unknown(env, text, "empty command name")
            return env.cwds
        if first.value in RESERVED_WORDS and not first.quoted:
            # `time { rm x; }`, `coproc F { ..; }`: the parser split a compound command into words
            self.unknown(env, text, f"reserved word {first.value!r} where a command name was parsed")
            return env.cwds
        prog, is_path = program_name(first.value)
        args = words[1:]
        # a defined function shadows any program of the same name
        if not is_path and prog in self.ctx.functions and prog not in ("command", "builtin"):
            return self.call_function(prog, env, stdin, text)
        flags: tuple[str, ...] = ("program_path",) if is_path else ()
        return self.program(prog, first, args, env, stdin, text, flags, is_path)

    def call_function(self, name: str, env: Env, stdin: Stdin, text: str) -> tuple[str, ...]:
        body, _def_env = self.ctx.functions[name]
        self.ctx.called.add(name)
        if name in self.ctx.call_stack or len(self.ctx.call_stack) >= MAX_DEPTH:
            return env.cwds  # recursion: its statements are already listed
        self.ctx.call_stack.append(name)
        try:
            f_env = Env(env.cwds, env.via + (f"function:{name}",), env.depth + 1)
            after = self.stmt(body, f_env, stdin)
        finally:
            self.ctx.call_stack.pop()
        return _merge_cwds(env.cwds, after)


_NAME_ONLY = frozenset({"simple_expansion", "variable_name", "special_variable_name"})


def _iter_named(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


def _iter_subs(node: Node) -> Iterator[Node]:
    """Outermost command/process substitutions (and arithmetic/subscripts) below node."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in ("command_substitution", "process_substitution", "arithmetic_expansion"):
            yield n
            continue
        stack.extend(reversed(n.named_children))


def _mentions_cd(ctx: Ctx, node: Node) -> bool:
    # the command names below node, found by the parser's query engine (a walk in Python over every
    # named node was a twentieth of the time of a long pipeline of loops)
    cursor = tree_sitter.QueryCursor(_COMMAND_NAME_QUERY)
    cursor.set_byte_range(node.start_byte, node.end_byte)
    for n in cursor.captures(node).get("n", ()):
        t = ctx.text(n).strip("'\"\\")
        if t in ("cd", "pushd", "popd", "chdir", "source", ".") or t.startswith("$"):
            return True
    return False


def _merge_cwds(before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, ...]:
    if after is before or len(after) == 1:
        return after
    m = tuple(uniq(after))
    if len(m) > MAX_CWDS:
        return ("",)
    return m


def _redirect_op(r: Node) -> str:
    for c in r.children:
        if not c.is_named:
            return c.type
    return ""


def classify_code(
    code: str,
    cwds: tuple[str, ...],
    via: tuple[str, ...],
    depth: int,
    functions: dict[str, tuple[Node, Env]] | None = None,
    origin: tuple[str, ...] | None = None,
) -> list[Statement]:
    env = Env(cwds, via, depth)
    if len(code.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
        return [
            Statement(kind="unknown", text=code[:500], via=via, reason=f"command longer than {MAX_COMMAND_BYTES} bytes")
        ]
    if "\r" in code:
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason="carriage return in the command (bash and the parser split it differently)",
            )
        ]
    if "\x00" in code:
        return [Statement(kind="unknown", text=code[:500], via=via, reason="NUL byte in command")]
    if not code.isascii() and max(code) > "\uffff":
        # tree-sitter-bash 0.25.1 segfaults (nondeterministically) on some commands holding a character
        # outside the Basic Multilingual Plane, e.g. 'v{\U000fa583}': never hand one to the parser
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason="a character outside the Basic Multilingual Plane (the parser cannot take it safely)",
            )
        ]
    if nesting_exceeds(code, MAX_NESTING):
        return [
            Statement(
                kind="unknown", text=code[:500], via=via, reason=f"command nested more than {MAX_NESTING} levels deep"
            )
        ]
    if "\\\n" in code and CONTINUATION_IN_WORD.search(code):
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason="line continuation inside a word (the parser and bash disagree)",
            )
        ]
    src = code.encode("utf-8", "surrogateescape")
    if not src.endswith((b"\n", b"\\")):
        # same meaning to bash; tree-sitter-bash resolves an ambiguity at end of input far faster
        # when the last line is terminated (a 5-stage pipeline: ~105 us -> ~15 us)
        src += b"\n"
    tree = _parser().parse(src)
    root = tree.root_node
    if root.has_error:
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason="the command does not parse (syntax error or unsupported syntax)",
            )
        ]
    if root.descendant_count > MAX_NODES:
        # the walk costs tens of microseconds per word: bound the time any string can take
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason=f"the command has {root.descendant_count} syntax nodes; over {MAX_NODES} it is "
                "not classified (time bound)",
            )
        ]
    ctx = Ctx(src)
    ctx.origin = cwds if origin is None else origin
    if functions:
        ctx.functions.update(functions)
    w = Walker(ctx)
    try:
        w.stmt(root, env, Stdin())
        # functions that were defined but never called: their bodies still count
        for name, (body, denv) in list(ctx.functions.items()):
            if functions and name in functions:
                continue
            if name not in ctx.called:
                w.stmt(body, Env(denv.cwds, denv.via + (f"function:{name}",), denv.depth + 1), Stdin())
    except RecursionError:
        return [Statement(kind="unknown", text=code[:500], via=via, reason="command nested too deeply to classify")]
    except Abort as exc:
        return [Statement(kind="unknown", text=code[:500], via=via, reason=str(exc))]
    # fail closed on walker gaps: every command and redirection the parser found must have been
    # looked at; one that was not makes the whole string unknown
    caps = tree_sitter.QueryCursor(_COVERAGE_QUERY).captures(root)
    missed = [n for n in caps.get("n", ()) if n.start_byte not in ctx.visited]
    for c in caps.get("c", ()):
        if not comment_starts_a_word(src, c.start_byte):
            return [
                Statement(
                    kind="unknown", text=code[:500], via=via, reason="the parser read a comment where bash reads a word"
                )
            ]
    gap_from = 0
    for c in root.children:
        if c.start_byte > gap_from and src[gap_from : c.start_byte].replace(b"\\\n", b"").strip(b" \t\n"):
            return [
                Statement(kind="unknown", text=code[:500], via=via, reason="the parser skipped part of the command")
            ]
        gap_from = max(gap_from, c.end_byte)
    if src[gap_from:].replace(b"\\\n", b"").strip(b" \t\n"):
        return [Statement(kind="unknown", text=code[:500], via=via, reason="the parser skipped part of the command")]
    if missed:
        n = missed[0]
        return [
            Statement(
                kind="unknown",
                text=code[:500],
                via=via,
                reason=f"part of the command was not analysed: {ctx.text(n)[:80]!r}",
            )
        ]
    if not ctx.out and code.strip() and not _only_comments_or_assignments(root):
        return [Statement(kind="unknown", text=code[:500], via=via, reason="no command found")]
    return ctx.out


def _only_comments_or_assignments(root: Node) -> bool:
    return all(
        c.type in ("comment", "variable_assignment", "variable_assignments", "function_definition")
        for c in root.named_children
    )
