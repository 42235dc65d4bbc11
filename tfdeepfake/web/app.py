"""The page ``tfdeepfake serve`` shows, as a Flask app: upload a video (or pick one from the
``--videos`` folder) -> a job page that polls its progress -> verdict, probability, the
frame plot, the face sheet, the heat maps and the annotated video.

Routes: ``GET /`` the form; ``POST /upload``, ``POST /pick`` start a job and redirect to
``GET /jobs/<id>``; ``GET /api/jobs/<id>`` its state as JSON (what the page's script
polls); ``GET /jobs/<id>/<file>`` one of its pictures (a fixed set of names, see
``jobs.SERVED_FILES``). Rejected uploads get the form again with a one-line message and a
4xx status; the server goes on serving.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from tfdeepfake.web.files import UploadRejected, VideoFolder, check_upload, shown_name
from tfdeepfake.web.jobs import SERVED_FILES, Job, JobQueue

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 500


def create_app(jobs: JobQueue, *, videos: VideoFolder | None = None,
               max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1024 * 1024)
    app.json.sort_keys = False  # the verdict's fields in their own order

    def form(message: str | None = None, status: int = 200):
        models = {name: m.state if m.state != "failed" else m.error
                  for name, m in jobs.models.items()}
        names = videos.names() if videos is not None else []
        return render_template("index.html", models=models, videos=names,
                               max_upload_mb=max_upload_mb, message=message), status

    def chosen_model() -> str:
        name = request.form.get("model") or next(iter(jobs.models))
        if name not in jobs.models:
            raise UploadRejected(f"no model called {name!r}")
        return name

    @app.get("/")
    def index():
        return form()

    @app.post("/upload")
    def upload():
        try:
            model = chosen_model()
            file = request.files.get("video")
            if file is None or not file.filename:
                raise UploadRejected("choose a video file to upload")
            name = shown_name(file.filename)
            job_id, folder = jobs.new_folder()
            stored = folder / "upload"  # never the sender's name
            try:
                file.save(stored)
                suffix = check_upload(stored, name)
            except BaseException:
                stored.unlink(missing_ok=True)
                folder.rmdir()
                raise
            video = stored.rename(folder / f"input{suffix}")
        except UploadRejected as error:
            logger.info("upload rejected: %s", error)
            return form(str(error), 400)
        job = jobs.submit(job_id, folder, model, video, name, remove_video=True)
        return redirect(url_for("job_page", job_id=job.id), code=303)

    @app.post("/pick")
    def pick():
        if videos is None:
            abort(404)
        try:
            model = chosen_model()
            name = request.form.get("video", "")
            try:
                video = videos.resolve(name)
            except FileNotFoundError:
                raise UploadRejected(f"{shown_name(name)}: not a video of the folder") from None
        except UploadRejected as error:
            return form(str(error), 400)
        job_id, folder = jobs.new_folder()
        job = jobs.submit(job_id, folder, model, video, name, remove_video=False)
        return redirect(url_for("job_page", job_id=job.id), code=303)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error):
        return form(f"the file is larger than the limit of {max_upload_mb:g} MB", 413)

    def job_or_404(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            abort(404)
        return job

    @app.get("/jobs/<job_id>")
    def job_page(job_id: str):
        job = job_or_404(job_id)
        return render_template("job.html", job=job, state=job_state(jobs, job),
                               served={name: key for name, (key, _) in SERVED_FILES.items()
                                       if key in job.files})

    @app.get("/api/jobs/<job_id>")
    def job_api(job_id: str):
        return jsonify(job_state(jobs, job_or_404(job_id)))

    @app.get("/jobs/<job_id>/<name>")
    def job_file(job_id: str, name: str):
        job = job_or_404(job_id)
        if name not in SERVED_FILES or SERVED_FILES[name][0] not in job.files:
            abort(404)
        key, mimetype = SERVED_FILES[name]
        # Conditional responses answer range requests: the <video> tag can seek.
        return send_file(Path(job.files[key]), mimetype=mimetype, conditional=True,
                         max_age=0)

    return app


def job_state(jobs: JobQueue, job: Job) -> dict[str, Any]:
    """What the page shows of a job (no server paths)."""
    model = jobs.models[job.model]
    stage = job.stage
    if job.status == "queued":
        ahead = jobs.position(job)
        stage = ("loading the model" if model.state == "loading"
                 else f"waiting: {ahead} video(s) ahead" if ahead else "starting")
    return {"id": job.id, "name": job.name, "model": job.model, "status": job.status,
            "stage": stage, "fraction": job.fraction, "error": job.error,
            "verdict": job.verdict,
            "files": sorted(name for name, (key, _) in SERVED_FILES.items() if key in job.files)}


__all__ = ["DEFAULT_MAX_UPLOAD_MB", "create_app", "job_state"]
