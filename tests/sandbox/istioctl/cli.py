"""The command line: cobra's flags (persistent ones anywhere on the line) read into argparse, each command handed to
its part."""

import argparse
import sys

from . import common
from .common import Failure
from .install import cmd_install, cmd_manifest_generate, cmd_uninstall
from .kube import Kube
from .remote import add_parser as add_remote_secret_parser, cmd_create_remote_secret
from .status import cmd_analyze, cmd_precheck, cmd_proxy_config, cmd_proxy_status, cmd_version
from .tags import cmd_tag_list, cmd_tag_remove, cmd_tag_set


def build_parser():
    parser = argparse.ArgumentParser(prog="istioctl", add_help=True)
    parser.add_argument("--kubeconfig", "-c")
    parser.add_argument("--context")
    parser.add_argument("--istioNamespace", "-i", default=None)
    parser.add_argument("--vklog", default=None)
    parser.add_argument("--as", dest="as_user", default=None)
    parser.add_argument("--as-group", dest="as_group", action="append", default=[])
    parser.add_argument("--as-uid", dest="as_uid", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    version = sub.add_parser("version")
    version.add_argument("--remote", default="true", type=lambda v: str(v).lower() != "false", nargs="?", const=True)
    version.add_argument("-o", "--output", default="")
    version.add_argument("--short", "-s", action="store_true")
    for name in ("install", "upgrade"):
        install = sub.add_parser(name)
        install.add_argument("-y", "--skip-confirmation", action="store_true")
        install.add_argument("--set", "-s", action="append")
        install.add_argument("-f", "--filename", action="append")
        install.add_argument("-r", "--revision", default="")
        install.add_argument("--readiness-timeout", default="5m0s")
        install.add_argument("--verify", action="store_true")
    uninstall = sub.add_parser("uninstall")
    uninstall.add_argument("-y", "--skip-confirmation", action="store_true")
    uninstall.add_argument("--purge", action="store_true")
    uninstall.add_argument("-r", "--revision", default="")
    uninstall.add_argument("-f", "--filename", action="append")
    experimental = sub.add_parser("x", aliases=["experimental"])
    xsub = experimental.add_subparsers(dest="xcommand", required=True)
    xsub.add_parser("precheck")
    analyze = sub.add_parser("analyze")
    analyze.add_argument("-n", "--namespace")
    analyze.add_argument("-A", "--all-namespaces", action="store_true")
    analyze.add_argument("-o", "--output", default="log")
    manifest = sub.add_parser("manifest")
    msub = manifest.add_subparsers(dest="mcommand", required=True)
    generate = msub.add_parser("generate")
    generate.add_argument("--set", "-s", action="append")
    generate.add_argument("-f", "--filename", action="append")
    generate.add_argument("-r", "--revision", default="")
    tag = sub.add_parser("tag")
    tsub = tag.add_subparsers(dest="tcommand", required=True)
    tag_list = tsub.add_parser("list")
    tag_list.add_argument("-o", "--output", default="table")
    tag_set = tsub.add_parser("set")
    tag_set.add_argument("tag", nargs="*")
    tag_set.add_argument("-r", "--revision", default="")
    tag_set.add_argument("--overwrite", action="store_true")
    tag_set.add_argument("-y", "--skip-confirmation", action="store_true")
    tag_remove = tsub.add_parser("remove")
    tag_remove.add_argument("tag", nargs="*")
    tag_remove.add_argument("-y", "--skip-confirmation", action="store_true")
    config = sub.add_parser("proxy-config", aliases=["pc"])
    csub = config.add_subparsers(dest="pccommand", required=True)
    routes = csub.add_parser("route", aliases=["routes", "r"])
    routes.add_argument("target")
    routes.add_argument("-n", "--namespace")
    routes.add_argument("-o", "--output", default="short", choices=["json", "yaml", "short"])
    routes.add_argument("--name", default="")
    add_remote_secret_parser(sub)
    status = sub.add_parser("proxy-status", aliases=["ps"])
    status.add_argument("pod", nargs="?", default=None)
    status.add_argument("-n", "--namespace")
    return parser


GLOBAL_FLAGS = {"--kubeconfig": "kubeconfig", "-c": "kubeconfig", "--context": "context",
                "--istioNamespace": "istioNamespace", "-i": "istioNamespace", "--vklog": "vklog", "--as": "as_user",
                "--as-group": "as_group", "--as-uid": "as_uid"}


def split_global_flags(argv):
    """Cobra takes persistent flags anywhere on the line; argparse wants them first."""
    front, rest = [], []
    index = 0
    while index < len(argv):
        arg = argv[index]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_FLAGS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[index:index + 2])
                index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main(argv=None):
    args = build_parser().parse_args(split_global_flags(sys.argv[1:] if argv is None else argv))
    # the control-plane namespace: --istioNamespace for every command, values.global.istioNamespace for install
    for item in getattr(args, "set", None) or []:
        if item.startswith("values.global.istioNamespace="):
            common.NAMESPACE = item.split("=", 1)[1]
    if getattr(args, "istioNamespace", None):
        common.NAMESPACE = args.istioNamespace
    try:
        if args.command == "manifest":
            return cmd_manifest_generate(args, None)
        if args.command == "version" and not args.remote:
            return cmd_version(args, None)
        kube = Kube(args.kubeconfig, args.context,
                    {"user": args.as_user, "groups": args.as_group, "uid": args.as_uid})
        if args.command in ("install", "upgrade"):
            return cmd_install(args, kube)
        if args.command == "uninstall":
            return cmd_uninstall(args, kube)
        if args.command == "version":
            return cmd_version(args, kube)
        if args.command in ("x", "experimental"):
            return cmd_precheck(args, kube)
        if args.command == "analyze":
            return cmd_analyze(args, kube)
        if args.command == "tag":
            return {"list": cmd_tag_list, "set": cmd_tag_set, "remove": cmd_tag_remove}[args.tcommand](args, kube)
        if args.command == "create-remote-secret":
            return cmd_create_remote_secret(args, kube)
        if args.command in ("proxy-config", "pc"):
            return cmd_proxy_config(args, kube)
        return cmd_proxy_status(args, kube)
    except Failure as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.code
