"""What the sandbox's containers can run: a small POSIX shell around curl, run as the container's process.

A container whose command is ``sh -c SCRIPT`` (or one of the programs below, run without a shell) has it run: its
output goes to the container's log, its curl requests go through the data plane as the pod (with its sidecar or
without, as a real pod's requests go), its ``sleep`` takes that long in real time, and its exit code is the
container's. What the subset does not hold is a syntax error (exit 2) or a missing program; sandbox/containers.py
decides what a container does with a command beyond it.

The shell (POSIX.1 "Shell Command Language", as BusyBox ash runs it): lists joined by ``;``, ``&&``, ``||`` and
newlines; ``while``/``until``, ``for NAME in WORDS``, ``if``/``elif``/``else``; ``break``, ``continue``;
``NAME=VALUE``; ``$NAME``, ``${NAME}``, ``$?``, ``$(COMMANDS)`` and ``$((ARITHMETIC))`` (integers, + - * / %
and comparisons), unquoted ones split into fields; redirections ``>``, ``>>``, ``2>``, ``2>&1``, ``>&2``
(``/dev/null`` discards, another path is written to the container's files). No pipelines, globbing, functions or
background jobs.

Programs: ``curl`` (the options below), ``echo``, ``printf`` (%s, %d, \\n), ``cat`` (the container's files, or
standard input), ``seq``, ``date`` (``+%s`` and the default format), ``test``/``[``, ``true``, ``false``, ``:``,
``exit [N]``, ``sleep N`` (seconds, or with a suffix s, m, h, d; ``infinity``), ``hostname``, ``sh``. curl's exit
codes and messages follow its manual (curl.se/docs/manpage.html, "EXIT CODES"): 6 could not resolve host, 7
failed to connect, 22 an HTTP error with --fail, 28 timeout, 56 failure receiving data (a connection reset by the
peer).
"""

import fnmatch
import hashlib
import io
import math
import posixpath
import re
import shlex
import tarfile
import time

from . import filesystem as fs

PROGRAMS = ("curl", "echo", "printf", "cat", "seq", "date", "test", "[", "true", "false", ":", "exit", "sleep",
            "hostname", "sh", "bash", "ash", "break", "continue", "export", "find", "tar", "mkdir", "rm", "sha256sum")
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash", "ash")
RESERVED = ("while", "until", "for", "if", "then", "elif", "else", "fi", "do", "done")
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)=(.*)$", re.S)
MARK = "\x00"  # brackets an expansion's index in a word: expansions are found before the words are split
BUSY = 2000  # commands a loop may run without sleeping before it yields (a busy container takes its CPU slice)
# curl options taking a value, and the flags the sandbox understands (anything else: not supported)
CURL_VALUES = ("-o", "--output", "-w", "--write-out", "-X", "--request", "-H", "--header", "-m", "--max-time",
               "--connect-timeout", "-d", "--data", "--retry")
CURL_FLAGS = ("-s", "--silent", "-S", "--show-error", "-f", "--fail", "-v", "--verbose", "-i", "--include",
              "-sS", "-sf", "-fsS", "-sSf", "-fs", "-L", "--location", "-k", "--insecure")
quote = shlex.quote


class ShellSyntaxError(ValueError):
    pass


def script_of(container):
    """The shell script a container runs, or None when its command is not a shell or a program of the subset."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    if not argv:
        return None
    if argv[0] in SHELLS and len(argv) >= 3 and argv[1] == "-c":
        return argv[2]
    if _program(argv[0]) in PROGRAMS:  # an image's own binary, run without a shell
        return " ".join(shlex.quote(a) for a in [_program(argv[0])] + argv[1:])
    return None


def _program(word):
    """The program a command word names: /bin/cat is cat."""
    return word.rsplit("/", 1)[-1]


# ------------------------------------------------------------------ parsing

def _scan(script):
    """The script with each expansion outside single quotes replaced by MARK+index+MARK, and the expansions:
    [(kind, text, quoted)] with kind "cmd", "arith", "var" or "redirect" (redirections outside quotes, each made
    a word of its own)."""
    out, table = [], []
    index, quote_char = 0, None

    def mark(kind, text, quoted, word=False):
        table.append((kind, text, quoted))
        token = "%s%d%s" % (MARK, len(table) - 1, MARK)
        out.append(" %s " % token if word else token)
    while index < len(script):
        char = script[index]
        if quote_char == "'":
            quote_char = None if char == "'" else quote_char
            out.append(char)
            index += 1
            continue
        if char == "\\" and index + 1 < len(script):
            out.append(script[index:index + 2])
            index += 2
            continue
        if char in "'\"" and quote_char is None:
            quote_char = char
        elif char == '"' and quote_char == '"':
            quote_char = None
        if char == "$" and script.startswith("$((", index):
            end = _closing(script, index + 3, "((", "))")
            mark("arith", script[index + 3:end], quote_char == '"')
            index = end + 2
            continue
        if char == "$" and script.startswith("$(", index):
            end = _closing(script, index + 2, "(", ")")
            mark("cmd", script[index + 2:end], quote_char == '"')
            index = end + 1
            continue
        variable = re.match(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*|[?$#]))", script[index:])
        if char == "$" and variable:
            mark("var", variable.group(1) or variable.group(2), quote_char == '"')
            index += variable.end()
            continue
        redirect = re.match(r"(\d?)(>>|>&|>|<)[ \t]*(&?\d\b|(?:'[^']*'|\"[^\"]*\"|[^\s;&|<>'\"]+)+)",
                            script[index:]) if quote_char is None else None
        if redirect and (not redirect.group(1) or not out or not out[-1][-1:].isalnum()):
            fd = int(redirect.group(1) or (0 if redirect.group(2) == "<" else 1))
            target = shlex.split(redirect.group(3))[0] if redirect.group(3)[:1] != "&" else redirect.group(3)
            mark("redirect", (fd, redirect.group(2), target), False, word=True)
            index += redirect.end()
            continue
        if char in "*?" and quote_char is None:
            out.append(fs.GLOB_STAR if char == "*" else fs.GLOB_ONE)  # a pattern for pathname expansion
        else:
            out.append(char)
        index += 1
    return "".join(out), table


def _closing(script, start, opening, closing):
    """Where the ``closing`` that matches an expansion opened just before ``start`` begins."""
    depth, index = 1, start
    while index < len(script):
        if script.startswith(closing, index) and depth == 1:
            return index
        if script[index] == "(":
            depth += 1
        elif script[index] == ")":
            depth -= 1
            if depth == 0:
                break
        index += 1
    raise ShellSyntaxError("unterminated $%s" % opening)


def _tokens(text):
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t\r"  # a newline ends a command (outside quotes, where it is the word's own)
    lexer.whitespace_split = True
    for token in lexer:
        if token and set(token) <= set(";&|\n"):
            core = token.replace("\n", "")
            if core not in ("", ";", "&&", "||"):
                raise ShellSyntaxError("unsupported operator %s" % core)
            yield ("op", core or ";")
        else:
            yield ("word", token)


class _Parser(object):
    """Tokens to a tree: a list is [(operator before it, node)]; a node is ("simple", words), ("while", until?,
    condition, body), ("for", name, words, body) or ("if", [(condition, body)], else body or None)."""

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.at = 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def expect(self, word):
        kind, value = self.take()
        if kind != "word" or value != word:
            raise ShellSyntaxError("expected %s, found %r" % (word, value))

    def parse_list(self, stops=()):
        out, operator = [], ";"
        while True:
            kind, value = self.peek()
            if kind is None or (kind == "word" and value in stops):
                return out
            if kind == "op":
                self.take()
                if value != ";" and not out:
                    raise ShellSyntaxError("unexpected %s" % value)
                operator = value
                continue
            out.append((operator, self.command()))
            operator = ";"

    def command(self):
        kind, value = self.take()
        if value in ("while", "until"):
            condition = self.parse_list(("do",))
            self.expect("do")
            body = self.parse_list(("done",))
            self.expect("done")
            return ("while", value == "until", condition, body)
        if value == "for":
            dummy, name = self.take()
            words = []
            if self.peek() == ("word", "in"):
                self.take()
                while self.peek()[0] == "word":
                    words.append(self.take()[1])
            self.skip_separators()
            self.expect("do")
            body = self.parse_list(("done",))
            self.expect("done")
            return ("for", name, words, body)
        if value == "if":
            branches, otherwise = [], None
            while True:
                condition = self.parse_list(("then",))
                self.expect("then")
                body = self.parse_list(("elif", "else", "fi"))
                branches.append((condition, body))
                dummy, word = self.take()
                if word == "elif":
                    continue
                if word == "else":
                    otherwise = self.parse_list(("fi",))
                    self.expect("fi")
                elif word != "fi":
                    raise ShellSyntaxError("expected fi")
                return ("if", branches, otherwise)
        if value in RESERVED:
            raise ShellSyntaxError("unexpected %s" % value)
        words = [value]
        while self.peek()[0] == "word":
            words.append(self.take()[1])
        return ("simple", words)

    def skip_separators(self):
        while self.peek() == ("op", ";"):
            self.take()


def parse(script):
    """(tree, expansions) of a script; raises ShellSyntaxError beyond the subset."""
    text, table = _scan(script)
    parser = _Parser(_tokens(text))
    tree = parser.parse_list()
    if parser.peek()[0] is not None:
        raise ShellSyntaxError("unexpected %r" % (parser.peek()[1],))
    return tree, table


def _simple_commands(tree):
    for dummy, node in tree:
        if node[0] == "simple":
            yield node[1]
        elif node[0] == "while":
            yield from _simple_commands(node[2] + node[3])
        elif node[0] == "for":
            yield from _simple_commands(node[3])
        else:
            for condition, body in node[1]:
                yield from _simple_commands(condition + body)
            yield from _simple_commands(node[2] or [])


def _first_words(script):
    """The first word of each simple command of the script, with its expansions' table; None beyond the subset."""
    try:
        tree, table = parse(script)
    except ShellSyntaxError:
        return None
    return [words[0] for words in _simple_commands(tree)], table


def supported(script):
    """Whether the script is within the subset: its syntax, only programs the subset holds, and only the curl
    options it understands."""
    try:
        tree, dummy = parse(script)
    except ShellSyntaxError:
        return False
    for words in _simple_commands(tree):
        if _program(words[0]) != "curl":
            continue
        index = 1
        while index < len(words):
            if words[index] in CURL_VALUES:
                index += 2
                continue
            if words[index].startswith("-") and words[index] not in CURL_FLAGS:
                return False
            index += 1
    return missing_program(script) is None


def missing_program(script, programs=PROGRAMS):
    """The first program the script runs that the container's image does not hold (``programs``), or None."""
    found = _first_words(script)
    if found is None:
        return None
    for word in found[0]:
        if MARK in word or (ASSIGNMENT.match(word)):
            continue
        if _program(word) not in programs:
            return word
    return None


def reads_stdin(script):
    """Whether the script reads its standard input (a cat of no file or of -, a shell given no script)."""
    try:
        tree, dummy = parse(script)
    except ShellSyntaxError:
        return False
    for words in _simple_commands(tree):
        program = _program(words[0])
        options_only = all(w == "-" or (w.startswith("-") and program == "sha256sum") for w in words[1:])
        if program in ("cat", "sh", "sha256sum") and options_only:
            return True
        if program == "tar" and len(words) > 1 and set("xt") & set(words[1].lstrip("-")) and \
                not words[1].startswith("--"):
            return True
    return False


def sleeps(script):
    """Whether the script sleeps (so runs a while, ignoring SIGTERM as a container's PID 1)."""
    found = _first_words(script)
    return found is not None and any(_program(w) == "sleep" for w in found[0])


# ------------------------------------------------------------------ running

class _Exit(Exception):
    def __init__(self, code):
        Exception.__init__(self, code)
        self.code = code


class _Loop(Exception):
    def __init__(self, kind):
        Exception.__init__(self, kind)
        self.kind = kind


class Process(object):
    """One run of a script: ``steps()`` is a generator that yields the seconds the script sleeps next (math.inf
    for ever) and returns its exit code; ``emit(fd, text)`` gets its output as it is written (fd 1 or 2)."""

    def __init__(self, script, http, emit, files=None, stdin=b"", hostname="", programs=PROGRAMS):
        self.script = script
        self.http = http
        self.emit = emit
        self.files = files if files is not None else fs.Filesystem()
        self.stdin = fs.raw(stdin)
        self.hostname = hostname
        self.programs = programs
        self.variables = {"?": "0", "$": "1", "#": "0"}
        self.status = 0
        self.busy = 0

    def steps(self):
        try:
            tree, table = parse(self.script)
        except ShellSyntaxError as exc:
            self.emit(2, "sh: syntax error: %s\n" % exc)
            return 2
        try:
            yield from self._list(tree, table, self.emit)
        except _Exit as done:
            return done.code
        except _Loop:
            pass
        return self.status

    # -- lists and compound commands

    def _list(self, tree, table, emit):
        for operator, node in tree:
            if (operator == "&&" and self.status != 0) or (operator == "||" and self.status == 0):
                continue
            self.busy += 1
            if self.busy >= BUSY:  # a loop that never sleeps still lets the others run
                self.busy = 0
                yield 0.01
            if node[0] == "simple":
                yield from self._simple(node[1], table, emit)
            elif node[0] == "while":
                yield from self._while(node, table, emit)
            elif node[0] == "for":
                yield from self._for(node, table, emit)
            else:
                yield from self._if(node, table, emit)
            self.variables["?"] = str(self.status)

    def _while(self, node, table, emit):
        dummy, until, condition, body = node
        last = 0
        while True:
            yield from self._list(condition, table, emit)
            if (self.status == 0) == until:
                break
            try:
                yield from self._list(body, table, emit)
            except _Loop as jump:
                if jump.kind == "break":
                    last = self.status
                    break
            last = self.status
        self.status = last

    def _for(self, node, table, emit):
        dummy, name, words, body = node
        values = []
        for word in words:
            values.extend((yield from self._expand(word, table, emit)))
        self.status = 0
        for value in values:
            self.variables[name] = value
            try:
                yield from self._list(body, table, emit)
            except _Loop as jump:
                if jump.kind == "break":
                    break

    def _if(self, node, table, emit):
        dummy, branches, otherwise = node
        for condition, body in branches:
            yield from self._list(condition, table, emit)
            if self.status == 0:
                yield from self._list(body, table, emit)
                return
        self.status = 0
        if otherwise is not None:
            yield from self._list(otherwise, table, emit)

    # -- expansions

    def _expand(self, word, table, emit, split=True):
        """The fields a word expands to (an unquoted expansion that is the whole word is split on blanks)."""
        pieces = re.split("%s(\\d+)%s" % (MARK, MARK), word)
        if len(pieces) == 3 and pieces[0] == pieces[2] == "" and table[int(pieces[1])][0] == "redirect":
            return []
        text = ""
        for at, piece in enumerate(pieces):
            if at % 2 == 0:
                text += piece
                continue
            kind, content, quoted = table[int(piece)]
            value = yield from self._value(kind, content, emit)
            if split and not quoted and len(pieces) == 3 and pieces[0] == pieces[2] == "":
                return value.split()
            text += value
        if fs.GLOB_STAR in text or fs.GLOB_ONE in text:
            matches = self.files.glob(text) if split else []
            return matches or [text.replace(fs.GLOB_STAR, "*").replace(fs.GLOB_ONE, "?")]
        return [text]

    def _value(self, kind, content, emit):
        if kind == "var":
            return self.variables.get(content, "")
        if kind == "cmd":
            captured = []
            tree, table = parse(content)

            def capture(fd, output):
                (captured.append if fd == 1 else lambda t: emit(fd, t))(fs.text(output))
            try:
                yield from self._list(tree, table, capture)
            except _Exit as done:
                self.status = done.code
            value = "".join(captured).rstrip("\n")
            self.variables["?"] = str(self.status)
            return value
        # arithmetic: its own expansions first, then integer arithmetic on what is left
        text, table = _scan(content)
        expanded = ""
        for at, piece in enumerate(re.split("%s(\\d+)%s" % (MARK, MARK), text)):
            expanded += piece if at % 2 == 0 else (yield from self._value(*table[int(piece)][:2], emit))
        return str(self._arithmetic(expanded))

    def _arithmetic(self, text):
        text = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: self.variables.get(m.group(0), "0") or "0", text)
        if not re.match(r"^[\d\s+\-*/%()<>=!&|]*$", text):
            raise ShellSyntaxError("arithmetic syntax error: %s" % text)
        python = text.replace("&&", " and ").replace("||", " or ").replace("/", "//")
        python = re.sub(r"!(?!=)", " not ", python)
        value = eval(python, {"__builtins__": {}}, {})  # pylint: disable=eval-used  # digits and operators only
        return int(value)

    # -- simple commands

    def _simple(self, words, table, emit):
        argv, redirects = [], []
        for word in words:
            pieces = re.split("%s(\\d+)%s" % (MARK, MARK), word)
            if len(pieces) == 3 and pieces[0] == pieces[2] == "" and table[int(pieces[1])][0] == "redirect":
                redirects.append(table[int(pieces[1])][1])
                continue
            argv.extend((yield from self._expand(word, table, emit)))
        if not argv:
            self.status = 0
            return
        assignment = ASSIGNMENT.match(argv[0])
        if assignment and len(argv) == 1:
            self.variables[assignment.group(1)] = assignment.group(2)
            self.status = 0
            return
        emit = self._redirected(redirects, emit)
        if emit is None:
            self.status = 1
            return
        yield from self._program(argv, emit)

    def _redirected(self, redirects, emit):
        """``emit`` as the command's redirections route its output; None when one cannot be opened."""
        routes = {1: 1, 2: 2}
        for fd, operator, target in redirects:
            if operator == "<":
                if not self.files.isfile(target):
                    emit(2, "sh: can't open %s: no such file\n" % target)
                    return None
                continue
            if operator == ">&":
                routes[fd] = routes.get(int(target.lstrip("&")), int(target.lstrip("&")))
                continue
            if target == "/dev/null":
                routes[fd] = None
                continue
            try:
                self.files.write(target, b"", append=operator == ">>")
            except OSError:
                emit(2, "sh: can't create %s: nonexistent directory\n" % target)  # (BusyBox ash's words)
                return None
            routes[fd] = target

        def routed(fd, output):
            where = routes.get(fd, fd)
            if where is None:
                return
            if isinstance(where, str):
                self.files.write(where, output, append=True)
            else:
                emit(where, output)
        return routed

    def _program(self, argv, emit):
        name = _program(argv[0])
        args = argv[1:]
        status = 0
        if name not in self.programs:
            emit(2, "sh: %s: not found\n" % argv[0])
            self.status = 127
            return
        if name == "exit":
            raise _Exit(int(args[0]) if args else self.status)
        if name in ("break", "continue"):
            raise _Loop(name)
        if name == "sleep":
            seconds = sum(_seconds(a) for a in args) if args else None
            if seconds is None:
                emit(2, "sleep: missing operand\n")
                status = 1
            elif seconds > 0:
                self.busy = 0
                yield seconds
        elif name in ("true", ":", "export"):
            for arg in args if name == "export" else []:
                assignment = ASSIGNMENT.match(arg)
                if assignment:
                    self.variables[assignment.group(1)] = assignment.group(2)
        elif name == "false":
            status = 1
        elif name == "echo":
            newline = not (args and args[0] == "-n")
            emit(1, " ".join(args[1:] if not newline else args) + ("\n" if newline else ""))
        elif name == "printf":
            status = _printf(args, emit)
        elif name == "cat":
            status = _cat(args, self.files, self.stdin, emit)
        elif name in FILE_PROGRAMS:
            status = FILE_PROGRAMS[name](args, self.files, self.stdin, emit)
        elif name == "seq":
            status = _seq(args, emit)
        elif name == "date":
            emit(1, (str(int(time.time())) if args[:1] == ["+%s"] else
                     time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime())) + "\n")
        elif name in ("test", "["):
            if name == "[":
                if not args or args[-1] != "]":
                    emit(2, "sh: [: missing ]\n")
                    self.status = 2
                    return
                args = args[:-1]
            status = self._test(args, emit)
        elif name == "hostname":
            emit(1, (self.files.get("/etc/hostname") or self.hostname + "\n"))
        elif name in ("sh", "bash", "ash"):
            inner = args[1] if len(args) >= 2 and args[0] == "-c" else fs.text(self.stdin)
            child = Process(inner, self.http, emit, self.files, b"", self.hostname, self.programs)
            status = (yield from child.steps()) if inner.strip() else 0
        elif name == "curl":
            out, err = [], []
            status = _curl(args, self.http, out, err)
            if out:
                emit(1, "".join(out))
            if err:
                emit(2, "".join(err))
        else:
            emit(2, "sh: %s: not found\n" % argv[0])
            status = 127
        self.status = status

    def _test(self, args, emit):
        """test's exit code: 0 true, 1 false, 2 an error."""
        negate = bool(args) and args[0] == "!"
        if negate:
            args = args[1:]
        try:
            result = self._truth(args)
        except ValueError as exc:
            emit(2, "sh: %s\n" % exc)
            return 2
        return 0 if result != negate else 1

    def _truth(self, args):
        if not args:
            return False
        if len(args) == 1:
            return args[0] != ""
        if len(args) == 2:
            flag, operand = args
            if flag == "-z":
                return operand == ""
            if flag == "-n":
                return operand != ""
            if flag in ("-e", "-r"):
                return self.files.exists(operand)
            if flag in ("-f", "-s"):
                return self.files.isfile(operand) and (flag != "-s" or bool(self.files.read(operand)))
            if flag == "-d":
                return self.files.isdir(operand)
            raise ValueError("%s: unknown operand" % flag)
        if len(args) == 3:
            left, operator, right = args
            if operator in ("=", "=="):
                return left == right
            if operator == "!=":
                return left != right
            numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                       "-gt": int.__gt__, "-ge": int.__ge__}
            if operator in numeric:
                try:
                    return numeric[operator](int(left), int(right))
                except ValueError:
                    raise ValueError("bad number")  # pylint: disable=raise-missing-from
        raise ValueError("syntax error")


def _printf(args, emit):
    if not args:
        emit(2, "printf: usage: printf FORMAT [ARGUMENT]...\n")
        return 1
    form, values = args[0], list(args[1:])
    text = re.sub(r"%[sd]", lambda m: values.pop(0) if values else ("" if m.group(0) == "%s" else "0"), form)
    emit(1, text.replace("\\n", "\n").replace("\\t", "\t"))
    return 0


def _seq(args, emit):
    try:
        numbers = [int(a) for a in args]
    except ValueError:
        emit(2, "seq: invalid number\n")
        return 1
    if len(numbers) == 1:
        first, step, last = 1, 1, numbers[0]
    elif len(numbers) == 2:
        first, step, last = numbers[0], 1, numbers[1]
    elif len(numbers) == 3:
        first, step, last = numbers
    else:
        emit(2, "seq: missing operand\n")
        return 1
    if step == 0:
        return 1
    emit(1, "".join("%d\n" % n for n in range(first, last + (1 if step > 0 else -1), step)))
    return 0


def _cat(paths, files, stdin, emit):
    """cat's output and exit code (BusyBox's words for a file that is not there)."""
    status = 0
    for path in paths or ["-"]:
        try:
            emit(1, stdin if path == "-" else files.read(path))
        except OSError as exc:
            emit(2, "cat: %s: %s\n" % (("can't open '%s'" % path) if isinstance(exc, FileNotFoundError) else
                                       "read error", exc))
            status = 1
    return status


# ------------------------------------------------------------------ programs on the container's files
# (BusyBox's applets and their words: the images the sandbox runs are BusyBox- or coreutils-based; each prints
# "APPLET: PATH: REASON" or "APPLET: can't ... 'PATH': REASON" and exits 1 on an error)

def _flags(args, known):
    """(flags, operands) of a command line whose flags are single letters, bundled or not."""
    flags, operands = set(), []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and not operands and set(arg[1:]) <= set(known):
            flags |= set(arg[1:])
        else:
            operands.append(arg)
    return flags, operands


def _mkdir(args, files, dummy_stdin, emit):
    flags, paths = _flags(args, "pv")
    if not paths:
        emit(2, "mkdir: missing operand\n")
        return 1
    status = 0
    for path in paths:
        try:
            files.mkdir(path, parents="p" in flags)
        except OSError as exc:
            emit(2, "mkdir: can't create directory '%s': %s\n" % (path, exc))
            status = 1
    return status


def _rm(args, files, dummy_stdin, emit):
    flags, paths = _flags(args, "rRfv")
    recursive, force = bool(flags & set("rR")), "f" in flags
    if not paths and not force:
        emit(2, "rm: missing operand\n")
        return 1
    status = 0
    for path in paths:
        if not files.exists(path):
            if not force:
                emit(2, "rm: can't remove '%s': No such file or directory\n" % path)
                status = 1
            continue
        if files.isdir(path) and not recursive:
            emit(2, "rm: '%s' is a directory\n" % path)
            status = 1
            continue
        files.remove(path, recursive=True)
    return status


def _find(args, files, dummy_stdin, emit):
    """find [PATH...] [-type f|d] [-name PATTERN]: each path under PATH, depth first."""
    paths = []
    while args and not args[0].startswith("-"):
        paths.append(args.pop(0))
    kind, pattern = None, None
    while args:
        option = args.pop(0)
        if option in ("-type", "-name") and args:
            value = args.pop(0)
            kind, pattern = (value, pattern) if option == "-type" else (kind, value)
        else:
            emit(2, "find: unrecognized: %s\n" % option)
            return 1
    status = 0
    for path in paths or ["."]:
        if not files.exists(path):
            emit(2, "find: %s: No such file or directory\n" % path)
            status = 1
            continue
        found = [p for p, is_dir in files.walk(path) if kind is None or (kind == "d") == is_dir]
        found = [p for p in found if pattern is None or fnmatch.fnmatchcase(posixpath.basename(p), pattern)]
        if found:
            emit(1, "".join(p + "\n" for p in found))
    return status


def _sha256sum(args, files, stdin, emit):
    dummy_flags, paths = _flags(args, "bt")
    status = 0
    for path in paths or ["-"]:
        try:
            data = stdin if path == "-" else files.read(path)
        except OSError as exc:
            emit(2, "sha256sum: can't open '%s': %s\n" % (path, exc))
            status = 1
            continue
        emit(1, "%s  %s\n" % (hashlib.sha256(data).hexdigest(), path))
    return status


def _tar(args, files, stdin, emit):
    """tar c (an archive of the operands, to standard output) or x (from standard input), as ``f -``; ``-C DIR``
    first; leading "/" stripped from member names, with BusyBox's notice; modes and owners are not kept (-m,
    --no-same-permissions, --no-same-owner change nothing here)."""
    args = [a for a in args if a not in ("--no-same-permissions", "--no-same-owner")]
    if args and not args[0].startswith("-"):
        args[0] = "-" + args[0]  # the traditional bundled form: tar cf - ...
    mode, archive, directory, operands = None, None, None, []
    while args:
        arg = args.pop(0)
        if arg == "-C" and args:
            directory = args.pop(0)
        elif arg.startswith("-") and len(arg) > 1 and not arg.startswith("--"):
            for letter in arg[1:]:
                if letter in "cxt":
                    mode = letter
                elif letter == "f":
                    archive = args.pop(0) if args else None
                elif letter not in "mvpoz":
                    emit(2, "tar: invalid option -- '%s'\n" % letter)
                    return 1
        else:
            operands.append(arg)
    if mode is None or archive != "-":
        emit(2, "tar: the sandbox's tar reads and writes standard input and output only (f -)\n")
        return 1
    base = directory or files.cwd
    if not files.isdir(base):
        emit(2, "tar: can't change directory to '%s': No such file or directory\n" % base)
        return 1
    if mode == "c":
        return _tar_create(operands, files, base, emit)
    try:
        bundle = tarfile.open(fileobj=io.BytesIO(stdin), mode="r:")
    except tarfile.TarError:
        emit(2, "tar: short read\n" if not stdin else "tar: invalid tar magic\n")
        return 1
    for member in bundle:
        target = posixpath.join(base, member.name.lstrip("/"))
        try:
            if member.isdir():
                files.makedirs(target)
            elif member.isfile():
                if mode == "x":
                    files.makedirs(posixpath.dirname(target))
                    files.write(target, bundle.extractfile(member).read())
            if mode == "t":
                emit(1, member.name + "\n")
        except OSError as exc:
            emit(2, "tar: can't create '%s': %s\n" % (member.name, exc))
            return 1
    return 0


def _tar_create(operands, files, base, emit):
    if not operands:
        emit(2, "tar: empty archive\n")
        return 1
    out = io.BytesIO()
    status, stripped = 0, False
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as bundle:
        for operand in operands:
            path = posixpath.join(base, operand)
            if not files.exists(path):
                emit(2, "tar: %s: No such file or directory\n" % operand)
                status = 1
                continue
            for entry, is_dir in files.walk(path):
                name = operand + entry[len(path):] if entry != path else operand
                stripped = stripped or name.startswith("/")
                info = tarfile.TarInfo(name.lstrip("/") or ".")
                info.mtime = int(time.time())
                if is_dir:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    bundle.addfile(info)
                else:
                    data = files.read(entry)
                    info.size, info.mode = len(data), 0o644
                    bundle.addfile(info, io.BytesIO(data))
    if stripped:
        emit(2, "tar: removing leading '/' from member names\n")
    emit(1, out.getvalue())
    return status


FILE_PROGRAMS = {"mkdir": _mkdir, "rm": _rm, "find": _find, "sha256sum": _sha256sum, "tar": _tar}


def _seconds(word):
    """sleep's operand: a number with an optional suffix s, m, h or d (GNU coreutils and BusyBox sleep), or
    infinity."""
    if word in ("inf", "infinity"):
        return math.inf
    match = re.match(r"^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$", word)
    if not match:
        raise ValueError("sleep: invalid time interval %r" % word)
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


class CurlError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def _curl(args, http, out, err):
    method, headers, body, fail, silent, show_error, write_out, output = None, {}, None, False, False, False, None, None
    timeout, url, index = None, None, 0
    while index < len(args):
        arg = args[index]
        value = args[index + 1] if index + 1 < len(args) else ""
        if arg in ("-X", "--request"):
            method = value
        elif arg in ("-H", "--header"):
            key, dummy, val = value.partition(":")
            headers[key.strip()] = val.strip()
        elif arg in ("-d", "--data"):
            body = value.encode()
        elif arg in ("-m", "--max-time", "--connect-timeout"):
            timeout = float(value)
        elif arg in ("-w", "--write-out"):
            write_out = value
        elif arg in ("-o", "--output"):
            output = value
        elif arg in ("--retry",):
            pass
        else:
            if arg.startswith("-") and not arg.startswith("--"):
                fail = fail or "f" in arg
                silent = silent or "s" in arg
                show_error = show_error or "S" in arg
            elif arg in ("--fail",):
                fail = True
            elif arg in ("--silent",):
                silent = True
            elif arg in ("--show-error",):
                show_error = True
            elif not arg.startswith("-"):
                url = arg
            index += 1
            continue
        index += 2
    if url is None:
        err.append("curl: no URL specified\n")
        return 2
    if "://" not in url:
        url = "http://" + url
    try:
        code, payload = http(method or ("POST" if body is not None else "GET"), url, headers, body, timeout)
    except CurlError as exc:
        if not silent or show_error:
            err.append("curl: (%d) %s\n" % (exc.code, exc.message))
        if write_out:
            out.append(write_out.replace("%{http_code}", "000").replace("\\n", "\n"))
        return exc.code
    if fail and code >= 400:
        if not silent or show_error:
            err.append("curl: (22) The requested URL returned error: %d\n" % code)
        if write_out:
            out.append(write_out.replace("%{http_code}", str(code)).replace("\\n", "\n"))
        return 22
    if output is None:
        out.append(payload.decode("utf-8", "replace"))
    if write_out:
        out.append(write_out.replace("%{http_code}", str(code)).replace("\\n", "\n"))
    return 0
