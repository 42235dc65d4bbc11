"""Small videos the tests write for themselves."""

import cv2
import numpy as np
import skimage.data

FACE = skimage.data.astronaut()[20:220, 120:320]  # 200x200 around the face


def write_face_video(path, num_frames=12, size=(320, 240), face_size=120, gray=False, faces=1):
    """A moving face on a textured background, written with OpenCV's MPEG-4 encoder."""
    width, height = size
    rng = np.random.RandomState(0)
    background = rng.randint(0, 60, (height, width, 3)).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height),
                             isColor=not gray)
    try:
        for i in range(num_frames):
            frame = background.copy()
            for k in range(faces):
                s = face_size if k == 0 else face_size // 2
                x = 10 + i * 2 + k * (face_size + 20)
                frame[20:20 + s, x:x + s] = cv2.resize(FACE, (s, s))
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            writer.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr)
    finally:
        writer.release()
    return path


def write_blank_video(path, num_frames=8, size=(160, 120)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(num_frames):
        writer.write(np.full((size[1], size[0], 3), 40 + i, np.uint8))
    writer.release()
    return path


def toy_face_video(video_id, label, split, faces, frame_indices, num_sampled, dataset="toy"):
    """A real FaceVideo (as `iter_face_videos` yields) around given face crops."""
    from tfdeepfake.cache.faces import FaceVideo

    n = len(faces)
    sampled = np.arange(num_sampled)  # frames 0..num_sampled-1 were sampled; faces in some
    return FaceVideo(video_id=video_id, label=label, split=split, dataset=dataset,
                     faces=np.asarray(faces), frame_indices=np.asarray(frame_indices),
                     boxes=np.zeros((n, 4), np.float32), keypoints=np.zeros((n, 5, 2), np.float32),
                     confidences=np.ones(n, np.float32), sampled_indices=sampled, attrs={})


def write_pyav_video(path, frames, codec, fps=10, container_format=None, options=None,
                     codec_options=None):
    """``frames`` (RGB uint8) encoded with PyAV's ``codec`` into ``path`` (``options``: the
    muxer's, ``codec_options``: the encoder's); skips the test when this PyAV lacks the
    encoder."""
    import av
    import pytest

    try:
        av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError) as error:
        pytest.skip(f"no {codec} encoder in this PyAV: {error}")
    with av.open(str(path), "w", format=container_format, options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = codec_options or {}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
