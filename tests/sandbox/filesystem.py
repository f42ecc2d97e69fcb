"""A container's file tree, as its processes and an exec into it see it.

A container starts from its image's directories (the FHS skeleton every base image the sandbox's catalogue holds
has: /bin, /dev, /etc, /home, /root, /tmp, /usr, /var, ...) and the files the kubelet writes into it
(/etc/resolv.conf, /etc/hosts, /etc/hostname: sandbox/execstream.py). What its processes write (a shell's
redirections, ``mkdir``, ``tar -x``, ``rm``) changes the tree; each container of a pod has its own, as each has its
own writable layer. File contents are bytes; the mapping view (path -> text) reads them as UTF-8 with the
surrogateescape handler, so a binary file survives a round trip through the shell.

Errors are raised as OSError subclasses carrying the errno text the programs print (BusyBox's wording: "No such
file or directory", "File exists", "Not a directory", "Is a directory", "Directory not empty").
"""

import collections.abc
import fnmatch
import posixpath

BASE_DIRS = ("/", "/bin", "/dev", "/etc", "/home", "/lib", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv",
             "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/var", "/var/log",
             "/var/tmp")
GLOB_STAR, GLOB_ONE = "\x01", "\x02"  # an unquoted * and ? as the shell's scanner marks them


def text(data):
    """Bytes as the shell holds them (any byte kept: surrogateescape)."""
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


def raw(data):
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data


class Filesystem(collections.abc.MutableMapping):
    def __init__(self, files=None, cwd="/"):
        self.data = {}  # absolute path -> bytes
        self.dirs = set(BASE_DIRS)
        self.cwd = cwd
        self.dirs.add(cwd)
        for path, content in (files or {}).items():
            self.makedirs(posixpath.dirname(path))
            self.data[path] = raw(content)

    def path(self, name):
        """An absolute, normalised path (relative ones from the working directory)."""
        return posixpath.normpath(posixpath.join(self.cwd, name)).replace("//", "/")

    # -- the mapping view: regular files, as text

    def __getitem__(self, name):
        return text(self.data[self.path(name)])

    def __setitem__(self, name, value):
        self.write(name, value)

    def __delitem__(self, name):
        del self.data[self.path(name)]

    def __iter__(self):
        return iter(sorted(self.data))

    def __len__(self):
        return len(self.data)

    def __contains__(self, name):
        return isinstance(name, str) and self.path(name) in self.data

    # -- the tree

    def isdir(self, name):
        return self.path(name) in self.dirs

    def isfile(self, name):
        return self.path(name) in self.data

    def exists(self, name):
        return self.isdir(name) or self.isfile(name)

    def read(self, name):
        path = self.path(name)
        if path in self.dirs:
            raise IsADirectoryError("Is a directory")
        if path not in self.data:
            raise FileNotFoundError("No such file or directory")
        return self.data[path]

    def _parent_ready(self, path):
        parent = posixpath.dirname(path)
        if parent in self.data:
            raise NotADirectoryError("Not a directory")
        if parent not in self.dirs:
            raise FileNotFoundError("No such file or directory")

    def write(self, name, content, append=False):
        path = self.path(name)
        if path in self.dirs:
            raise IsADirectoryError("Is a directory")
        self._parent_ready(path)
        self.data[path] = (self.data.get(path, b"") if append else b"") + raw(content)

    def mkdir(self, name, parents=False):
        path = self.path(name)
        if parents:
            self.makedirs(path)
            return
        if path in self.dirs or path in self.data:
            raise FileExistsError("File exists")
        self._parent_ready(path)
        self.dirs.add(path)

    def makedirs(self, name):
        path = self.path(name)
        if path in self.data:
            raise FileExistsError("File exists")
        while path not in self.dirs:
            if path in self.data:
                raise NotADirectoryError("Not a directory")
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def listdir(self, name):
        path = self.path(name)
        if path not in self.dirs:
            raise (NotADirectoryError("Not a directory") if path in self.data
                   else FileNotFoundError("No such file or directory"))
        prefix = path.rstrip("/") + "/"
        return sorted(set(p[len(prefix):] for p in list(self.data) + list(self.dirs)
                          if p.startswith(prefix) and "/" not in p[len(prefix):] and p != prefix))

    def remove(self, name, recursive=False):
        path = self.path(name)
        if path in self.data:
            del self.data[path]
            return
        if path not in self.dirs:
            raise FileNotFoundError("No such file or directory")
        inside = [p for p in list(self.data) + list(self.dirs) if p.startswith(path.rstrip("/") + "/")]
        if not recursive:
            raise IsADirectoryError("Is a directory")
        for entry in inside:
            self.data.pop(entry, None)
            self.dirs.discard(entry)
        if path != "/":
            self.dirs.discard(path)

    def walk(self, name):
        """Every path under ``name`` (itself first), depth first in name order: [(path as given, is a dir)]."""
        if not self.isdir(name):
            return [(name, False)]
        out = [(name, True)]
        for entry in self.listdir(name):
            out.extend(self.walk(name.rstrip("/") + "/" + entry if name != "/" else "/" + entry))
        return out

    def glob(self, pattern):
        """The shell's pathname expansion of a word whose unquoted * and ? are marked; sorted matches, or [] (the
        shell then keeps the word). A component starting with a dot matches names starting with one, "." and ".."
        included (bash before 5.2, BusyBox ash)."""
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        found = ["/" if absolute else ""]
        for part in parts:
            following = []
            for base in found:
                where = base or "."
                if GLOB_STAR not in part and GLOB_ONE not in part:
                    candidate = base + ("" if base.endswith("/") or not base else "/") + part
                    if self.exists(candidate if candidate else "."):
                        following.append(candidate)
                    continue
                if not self.isdir(where):
                    continue
                names = self.listdir(where) + ([".", ".."] if part.startswith(".") else [])
                wanted = "".join("*" if c == GLOB_STAR else "?" if c == GLOB_ONE else
                                 ("[%s]" % c if c in "*?[" else c) for c in part)
                for entry in names:
                    if (entry.startswith(".") and not part.startswith(".")) or not fnmatch.fnmatchcase(entry, wanted):
                        continue
                    following.append(base + ("" if base.endswith("/") or not base else "/") + entry)
            found = following
        return sorted(found)
