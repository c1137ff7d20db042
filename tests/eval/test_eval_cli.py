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
    captured = capsys.readouterr()
    text = captured.out
    assert "Loading weights" not in captured.err and "it/s]" not in captured.err  # --no-progress
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


def _oversized_tokenizer_copy(sft_dir, dst):
    """A copy of the checkpoint whose tokenizer has one token ("Z") past the model's embedding rows:
    a prompt holding it makes the real model's forward raise (IndexError), so its generation fails."""
    import shutil

    from prime_fast.runtime.models import load_tokenizer

    shutil.copytree(sft_dir, dst)
    tok = load_tokenizer(str(dst))
    tok.add_tokens(["Z"])
    tok.save_pretrained(dst)
    return dst


def test_cli_exits_1_when_generation_failed_for_most_prompts(sft_dir, tmp_path, capsys):
    """Issue #22, defect 1: a table of zeros with exit 0 hid that every generation failed."""
    model = _oversized_tokenizer_copy(sft_dir, tmp_path / "model")
    rows = [{"problem": f"{i}+1=?", "answer": str(i + 1)} for i in range(1, 9)]
    poisoned = write_jsonl(tmp_path / "all.jsonl", [{**r, "problem": "Z" + r["problem"]} for r in rows])
    argv = ["--log-level", "ERROR", "eval", "--model", str(model), "--temperature", "0", "--max-tokens", "4"]
    argv += ["--no-progress", "--batch-size", "4"]
    rc = main([*argv, "--bench", f"z={poisoned}", "--out", str(tmp_path / "o1")])
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("prime-fast eval:")]
    assert rc == 1, err
    assert len(err) == 1 and "generation failed for 8 of 8 prompts of z (greedy)" in err[0], err
    assert "IndexError" in err[0]
    assert json.loads((tmp_path / "o1" / "results.json").read_text())["generation_failed_prompts"] == {
        "z": {"greedy": 8}
    }
    # one failure in eight is below the limit (more than half): the run reports it and exits 0
    few = write_jsonl(tmp_path / "few.jsonl", [{**rows[0], "problem": "Z" + rows[0]["problem"]}, *rows[1:]])
    rc = main([*argv, "--bench", f"f={few}", "--out", str(tmp_path / "o2")])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "o2" / "results.json").read_text())["generation_failed_prompts"] == {
        "f": {"greedy": 1}
    }
