"""``prime-fast eval`` and ``prime-fast eval-prm`` through the real command line entry point."""

from __future__ import annotations

import json

from _eval_helpers import write_jsonl

from prime_fast.cli import main


def test_eval_cli_writes_outputs_and_prints_table(sft_dir, bench_files, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--log-level", "WARNING", "eval", "--model", str(sft_dir), "--out", str(out)]
    argv += ["--bench", f"demo={bench_files['demo']}", "--bench", f"plain={bench_files['plain']}"]
    argv += ["--n", "2", "--temperature", "0.7", "--k", "1,2", "--max-tokens", "16", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert (
        "| Benchmark | greedy | avg@2 | pass@1 | pass@2 | maj@1 | maj@2 |" in text and "**Average**" in text
    )
    res = json.loads((out / "results.json").read_text())
    assert set(res["benchmarks"]) == {"demo", "plain"} and res["config"]["template"] == "auto"
    assert len((out / "samples.jsonl").read_text().splitlines()) == 2 * 24 * 3
    # the rerun generates nothing
    assert main(argv) == 0
    assert "generated 0 prompts" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_and_exit_2(sft_dir, tmp_path, capsys):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"problem": "1+1=?"}])
    rc = main(["eval", "--model", str(sft_dir), "--bench", f"b={bad}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.jsonl: line 1: no answer field" in err
    good = write_jsonl(tmp_path / "good.jsonl", [{"problem": "1+1=?", "answer": "2"}])
    rc = main(["eval", "--model", str(tmp_path), "--bench", f"b={good}", "--out", str(tmp_path / "o")])
    assert rc == 2 and "not an HF checkpoint directory" in capsys.readouterr().err
    rc = main(
        ["eval-prm", "--model", str(sft_dir), "--ref", str(sft_dir), "--data", str(tmp_path / "none.jsonl")]
    )
    assert rc == 2 and "no such benchmark file" in capsys.readouterr().err
