"""The native log lines TensorFlow and TFLite print are held back; everything else reaches stderr."""

import subprocess
import sys

import pytest

from edgerec.console import is_chatter

CHATTER = [
    b"I0000 00:00:1796334687.167847   14081 port.cc:153] oneDNN custom operations are on. You may see slightly",
    b"E0000 00:00:1796334697.081877   14081 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    b"E0000 00:00:1796334701.251322   14081 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool",
    b"W0000 00:00:1796334701.251322   14081 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: FLOAT32",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
KEPT = [
    b"[teacher] epoch 1/2 loss 0.51",
    b"Error: --out: b: another edgerec build is writing into this folder",
    b"F0000 00:00:1796334701.251322   14081 check.cc:12] Check failed: a native crash says why",
    b"Traceback (most recent call last):",
    b"",
]


@pytest.mark.parametrize("line", CHATTER)
def test_native_chatter_is_recognised(line):
    assert is_chatter(line)


@pytest.mark.parametrize("line", KEPT)
def test_everything_else_is_kept(line):
    assert not is_chatter(line)


@pytest.mark.parametrize("verbose", [False, True])
def test_the_filter_holds_native_writes_to_descriptor_2_back_unless_verbose(verbose):
    first, converter = CHATTER[0] + b"\n", CHATTER[5] + b"\n"
    code = (
        "import os, sys\nfrom edgerec.console import quiet_native_logs\n"
        f"with quiet_native_logs(enabled={not verbose}):\n"
        f"    os.write(2, {first!r})\n"
        "    print('from python', file=sys.stderr)\n"
        f"    os.write(2, {converter!r} + b'native, kept\\nno newline at the end')\n"
        "print('after', file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.decode().splitlines()
    if verbose:
        assert len(lines) == 5 and is_chatter(lines[0].encode()) and is_chatter(lines[2].encode())
    else:
        assert lines == ["from python", "native, kept", "no newline at the endafter"]


def test_a_progress_bar_frame_is_forwarded_before_its_line_ends():
    # the frame goes through the filter; MARK is written straight to the real stderr half a second later
    code = (
        "import os, time\nfrom edgerec.console import quiet_native_logs, stderr_is_terminal\n"
        "real = os.dup(2)\n"
        "with quiet_native_logs():\n"
        "    os.write(2, b'\\rframe 1')\n"
        "    time.sleep(0.5)\n"
        "    os.write(real, b'MARK')\n"
        "    os.write(2, b'\\rdone\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b"\rframe 1MARK\rdone\n"


def test_batch_bars_draw_only_on_a_terminal(monkeypatch, capsys, tiny_task):
    from edgerec import console, progress, train
    from edgerec.models.zoo import build_ranker
    from edgerec.recipe import ModelConfig, TrainConfig

    config = TrainConfig(max_epochs=1, batch_size=64)
    model = build_ranker(tiny_task.features, ModelConfig(embedding_dim=2, hidden=(2,)), "m")
    train.compile_ranker(model, config, tiny_task)
    for terminal in (False, True):
        monkeypatch.setattr(console, "stderr_is_terminal", lambda: terminal)
        assert len(progress.epoch_callbacks("m", 3)) == int(terminal)
        train.fit(model, tiny_task, config, 1, "m", log=lambda line: None)
        drawn = capsys.readouterr().err
        assert (f"/{train.steps_per_epoch(tiny_task, config)} [" in drawn and "batch/s" in drawn) == terminal, drawn
