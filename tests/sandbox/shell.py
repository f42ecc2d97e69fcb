"""What the sandbox's kubelet can run of a container's command: a small POSIX-shell subset around curl.

A pod that runs to completion (restartPolicy Never or OnFailure: a Job's, or `kubectl run --restart=Never`)
whose command is ``curl ...`` or ``sh -c 'SCRIPT'`` built only of the commands below has them run, its curl
requests sent through the data plane as that pod - with its sidecar or without, as a real pod's requests go -
and its exit code is the script's. Anything else is beyond the sandbox (no image runs here) and is reported as
such by ``supported``.

Commands: ``curl`` (the options below), ``echo``, ``true``, ``false``, ``exit [N]``, ``sleep N`` (the container is
reported running for those seconds before it terminates; the script's other commands run at its start), ``cat``
(the files the kubelet writes into a container, given by the caller, or standard input), ``sh`` (standard input
as its script),
``NAME=VALUE``; lists joined by ``;``, ``&&``, ``||`` and newlines; ``$?``, ``$NAME`` and
``${NAME}`` expanded (no command substitution, globbing or redirection). curl's exit codes and messages follow
its manual (curl.se/docs/manpage.html, "EXIT CODES"): 6 could not resolve host, 7 failed to connect, 22 an HTTP
error with --fail, 28 timeout, 56 failure receiving data (a connection reset by the peer).
"""

import re
import shlex

COMMANDS = ("curl", "echo", "true", "false", "exit", "sleep", "cat", "sh")
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash", "ash")
quote = shlex.quote
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)=(.*)$")
# curl options taking a value, and the flags the sandbox understands (anything else: not supported)
CURL_VALUES = ("-o", "--output", "-w", "--write-out", "-X", "--request", "-H", "--header", "-m", "--max-time",
               "--connect-timeout", "-d", "--data", "--retry")
CURL_FLAGS = ("-s", "--silent", "-S", "--show-error", "-f", "--fail", "-v", "--verbose", "-i", "--include",
              "-sS", "-sf", "-fsS", "-sSf", "-fs", "-L", "--location", "-k", "--insecure")


def script_of(container):
    """The shell script a container runs, or None when its command is not a shell or curl invocation."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    if not argv:
        return None
    if argv[0] in SHELLS and len(argv) >= 3 and argv[1] == "-c":
        return argv[2]
    program = argv[0].rsplit("/", 1)[-1]
    if program in ("curl", "sleep", "true", "false", "echo"):  # an image's own binary, run without a shell
        return " ".join(shlex.quote(a) for a in [program] + argv[1:])
    return None


def _split(script):
    """[(operator before it, argv)] of a list of simple commands."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t\r"  # a newline ends a command (outside quotes, where it is the word's own)
    lexer.whitespace_split = True
    out, words, operator = [], [], ";"
    for token in lexer:
        if token and set(token) <= set(";&|\n") and "\n" in token:
            token = token.replace("\n", "") or ";"
        if token in (";", "&&", "||"):
            if words:
                out.append((operator, words))
            words, operator = [], token
        elif set(token) <= set(";&|"):
            raise ValueError("unsupported operator %s" % token)
        else:
            words.append(token)
    if words:
        out.append((operator, words))
    return out


def supported(script):
    try:
        commands = _split(script)
    except ValueError:
        return False
    for dummy, argv in commands:
        if any(re.search(r"[`<>*]|\$\(", a) or re.search(r"\$(?![?]|[A-Za-z_]\w*|\{[A-Za-z_]\w*\})", a)
               for a in argv):
            return False
        if ASSIGNMENT.match(argv[0]) and len(argv) == 1:
            continue
        if _program(argv[0]) not in COMMANDS:
            return False
        if argv[0] == "sleep":
            try:
                [_seconds(a) for a in argv[1:] or ["?"]]
            except ValueError:
                return False
        if argv[0] == "curl":
            index = 1
            while index < len(argv):
                arg = argv[index]
                if arg in CURL_VALUES:
                    index += 2
                    continue
                if arg.startswith("-") and arg not in CURL_FLAGS:
                    return False
                index += 1
    return True


def _program(word):
    """The program a command word names: /bin/cat is cat."""
    return word.rsplit("/", 1)[-1]


def missing_program(script):
    """The first program the script runs that the sandbox's containers do not hold, or None."""
    try:
        commands = _split(script)
    except ValueError:
        return None
    for dummy, argv in commands:
        if not (ASSIGNMENT.match(argv[0]) and len(argv) == 1) and _program(argv[0]) not in COMMANDS:
            return argv[0]
    return None


def reads_stdin(script):
    """Whether the script reads its standard input (a cat of no file or of -, a shell given no script)."""
    try:
        return any(_program(argv[0]) in ("cat", "sh") and all(a == "-" for a in argv[1:])
                   for dummy, argv in _split(script))
    except ValueError:
        return False


def run(script, http, files=None, stdin=""):
    """Run ``script``; ``http(method, url, headers, body, timeout)`` sends a request as the pod and returns
    (status, body) or raises CurlError; ``files`` ({path: text}) are the container's files ``cat`` reads, ``stdin``
    its standard input. Returns (exit code, standard output, standard error, seconds it sleeps): the commands run
    at once, and the kubelet reports the container terminated only after those seconds. A script beyond the subset
    ends as a shell's syntax error does (exit 2)."""
    if not supported(script):
        return 2, "", "sh: syntax error: the sandbox's shell cannot run %r\n" % script, 0.0
    status = 0
    out, err = [], []
    variables = {}
    slept = [0.0]

    def expand(word):
        word = word.replace("$?", str(status))
        return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: variables.get(m.group(1), ""), word)
    for operator, argv in _split(script):
        if (operator == "&&" and status != 0) or (operator == "||" and status == 0):
            continue
        argv = [expand(a) for a in argv]
        assignment = ASSIGNMENT.match(argv[0])
        if assignment and len(argv) == 1:
            variables[assignment.group(1)] = assignment.group(2)
            continue
        name = _program(argv[0])
        if name == "exit":
            return (int(argv[1]) if len(argv) > 1 else status), "".join(out), "".join(err), slept[0]
        if name == "sleep":
            slept[0] += sum(_seconds(a) for a in argv[1:])
            status = 0
        elif name == "true":
            status = 0
        elif name == "false":
            status = 1
        elif name == "echo":
            out.append(" ".join(argv[1:]) + "\n")
            status = 0
        elif name == "cat":
            status = _cat(argv[1:], files or {}, stdin, out, err)
        elif name == "sh":
            inner = argv[2] if len(argv) >= 3 and argv[1] == "-c" else stdin
            code, more_out, more_err, seconds = run(inner, http, files) if inner.strip() else (0, "", "", 0.0)
            out.append(more_out)
            err.append(more_err)
            slept[0] += seconds
            status = code
        else:
            status = _curl(argv[1:], http, out, err)
    return status, "".join(out), "".join(err), slept[0]


def _cat(paths, files, stdin, out, err):
    """cat's output and exit code (BusyBox's words for a file that is not there)."""
    status = 0
    for path in paths or ["-"]:
        if path == "-":
            out.append(stdin)
        elif path in files:
            out.append(files[path])
        else:
            err.append("cat: can't open '%s': No such file or directory\n" % path)
            status = 1
    return status


def _seconds(word):
    """sleep's operand: a number with an optional suffix s, m, h or d (GNU coreutils and BusyBox sleep)."""
    match = re.match(r"^(\d+(?:\.\d*)?)([smhd]?)$", word)
    if not match:
        raise ValueError("sleep: invalid time interval %r" % word)
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def sleeps(script):
    """Whether the script sleeps (so runs a while, ignoring SIGTERM as a container's PID 1)."""
    try:
        return any(argv[0] == "sleep" for dummy, argv in _split(script))
    except ValueError:
        return False


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
