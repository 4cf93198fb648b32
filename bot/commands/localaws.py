"""`infra-bot local-aws`: the project's moto stand-in for AWS on 127.0.0.1.

The same server the demo uses, with its CloudFormation fixes (bot.demo.moto): exports
are published on execution (so a chain of Fn::ImportValue resolves), a re-plan of a
stack left in REVIEW_IN_PROGRESS reuses it instead of making a twin, change sets keep
their tags, parameters and capabilities. Runs until Ctrl-C.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading

import typer

from bot.commands.common import fail


def exports(endpoint: str, region: str) -> dict[str, str]:
    """What a shell needs to send infra-bot (and the AWS CLI) to the server. Pure."""
    from bot.demo.moto import DUMMY_CREDENTIALS

    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **DUMMY_CREDENTIALS,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _check_free(port: int) -> None:
    """moto binds in its own thread, where a taken port would only be a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def local_aws(
    port: int = typer.Option(5000, "--port", min=0, max=65535, help="0: any free port."),
    region: str = typer.Option("us-east-1", help="The region to print."),
) -> None:
    """Start a local AWS (moto with infra-bot's CloudFormation fixes) until Ctrl-C."""
    try:
        from moto.server import ThreadedMotoServer
    except ModuleNotFoundError:
        raise fail("local-aws needs moto: pip install 'infra-bot[demo]'") from None
    from bot.demo.moto import patch_change_sets, quiet_moto

    stop = threading.Event()
    with quiet_moto():
        patch_change_sets()
        if port:
            _check_free(port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        endpoint = f"http://{host}:{bound}"
        lines = [f"# infra-bot local-aws: moto on {endpoint} (Ctrl-C stops it)"]
        lines += [f"export {k}={v}" for k, v in exports(endpoint, region).items()]
        print("\n".join(lines), flush=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    print("local-aws stopped", file=sys.stderr, flush=True)


def register(app: typer.Typer) -> None:
    app.command("local-aws")(local_aws)
