"""``tfdeepfake serve``: the local web page (``tfdeepfake.web``)."""

from __future__ import annotations

import logging
from pathlib import Path

from tfdeepfake.cli.common import CommandError

logger = logging.getLogger("tfdeepfake")

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def model_names(folders: list[Path]) -> dict[str, Path]:
    """A distinct display name per model folder (its folder name; ``-2`` ... on clashes)."""
    names: dict[str, Path] = {}
    for folder in folders:
        name, k = folder.resolve().name or "model", 2
        while name in names:
            name, k = f"{folder.resolve().name}-{k}", k + 1
        names[name] = folder
    return names


def default_models() -> list[Path]:
    root = Path("saved_models")
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "model.json").is_file())


def cmd_serve(args) -> int:
    from werkzeug.serving import make_server

    from tfdeepfake.detectors import ModelFolder
    from tfdeepfake.web.app import create_app
    from tfdeepfake.web.files import VideoFolder
    from tfdeepfake.web.jobs import JobQueue

    folders = list(args.model or default_models())
    if not folders:
        from tfdeepfake.cli.common import model_folder

        folders = [model_folder(args)]
    for folder in folders:
        ModelFolder(folder).read_meta()  # a clear error now, not a failed job later
    if args.max_upload_mb <= 0:
        raise CommandError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    try:
        videos = VideoFolder(args.videos) if args.videos else None
    except NotADirectoryError as error:
        raise CommandError(str(error)) from None
    if args.host not in LOCAL_HOSTS:
        logger.warning("serving on %s: anyone who can reach this machine can upload videos",
                       args.host)
    jobs = JobQueue(model_names(folders), work_dir=args.work_dir, keep_jobs=args.keep_jobs,
                    people=args.people)
    app = create_app(jobs, videos=videos, max_upload_mb=args.max_upload_mb)
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as error:
        jobs.close()
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    print(f"tfdeepfake serve: http://{args.host}:{server.server_port}/  (Ctrl-C stops; "
          f"models load in the background: {', '.join(jobs.models)})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        jobs.close()
    return 0


def add_serve(sub, parents) -> None:
    p = sub.add_parser("serve", parents=parents,
                       help="a local web page: upload a video, see the verdict and why",
                       description="Serve a small web page on this computer: upload a video (or "
                                   "pick one from --videos) and see the verdict, the fake "
                                   "probability, the frame plot, the scored faces, heat maps and "
                                   "the annotated video. One video at a time per model; others "
                                   "queue.")
    p.add_argument("--model", type=Path, action="append",
                   help="model folder; repeat for several (default: every saved_models/<name> "
                        "with a model.json, else the bundled default model)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this computer only)")
    p.add_argument("--port", type=int, default=8080,
                   help="(default: %(default)s; 0: any free port)")
    p.add_argument("--videos", type=Path, help="a folder whose videos the page offers to pick")
    p.add_argument("--max-upload-mb", type=float, default=500, help="(default: %(default)s)")
    p.add_argument("--work-dir", type=Path,
                   help="where jobs keep their pictures (default: a temporary folder, removed "
                        "on exit)")
    p.add_argument("--keep-jobs", type=int, default=50,
                   help="finished jobs kept (older ones' files are deleted; default: %(default)s)")
    p.add_argument("--people", action="store_true",
                   help="judge every person in a video on their own, as detect --people does: "
                        "the page lists them and shows the one the verdict is about")
    p.set_defaults(func=cmd_serve)
