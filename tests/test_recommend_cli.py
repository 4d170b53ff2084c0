"""The hybrid recommender, playlists and the commands, on a small history with a matching audio library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.cli import main
from tunesmith.errors import InputFileError, UsageError
from tunesmith.provenance import recipe_path
from tunesmith.recommend.history import import_history
from tunesmith.recommend.hybrid import Recommender
from tunesmith.recommend.library import scan_library
from tunesmith.recommend.playlist import make_playlist, write_playlist

RATE = 22_050
SCENES = 3  # each scene: three artists with four tracks, one sound
ARTISTS = [[f"Artist {s}{a}" for a in "ABC"] for s in range(SCENES)]
SOUNDS = [  # (root note, minor, tempo BPM, partial amplitudes): what a scene sounds like
    (57, True, 90.0, (1.0,)),
    (62, False, 150.0, (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)),
    (52, True, 120.0, (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14)),
]
USERS = 60


def title(scene: int, artist: int, k: int) -> str:
    return f"{ARTISTS[scene][artist]} - Song {k}"


def tune(scene: int, variant: int, seconds: float = 6.0) -> np.ndarray:
    """A scene's sound: its key, tempo and timbre; variants change the tune and the level."""
    root, minor, bpm, partials = SOUNDS[scene]
    rng = np.random.default_rng(100 * scene + variant)
    scale = np.array([0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]) + root
    beat = 60.0 / bpm
    n = int(seconds * RATE)
    t = np.arange(int(beat * RATE)) / RATE
    env = np.exp(-t * 4.0)
    x = np.zeros(n)
    for b in range(int(seconds / beat)):
        note = scale[[0, 2, 4][b % 3]] if b % 2 == 0 else rng.choice(scale)
        f = 440.0 * 2 ** ((note - 69) / 12)
        seg = env * sum(
            a * np.sin(2 * np.pi * f * (h + 1) * t) for h, a in enumerate(partials) if f * (h + 1) < RATE / 2
        )
        i = int(b * beat * RATE)
        x[i : i + len(seg)] += seg[: n - i]
    x *= (0.5 - 0.1 * (variant % 3)) / np.abs(x).max()
    return np.stack([x, 0.9 * x], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A history of 60 users (Spotify JSON) and a library holding some of their tracks plus unplayed ones."""
    root = tmp_path_factory.mktemp("recommend")
    rng = np.random.default_rng(5)
    weights = 1.0 / (np.arange(12) + 2.0)
    weights /= weights.sum()
    records, played = [], {}
    for u in range(USERS):
        scene = u % SCENES
        picks = rng.choice(12, 7, replace=False, p=weights)
        names = [title(scene, int(p) // 4, int(p) % 4) for p in picks]
        played[f"user{u}"] = set(names)
        for k, name in enumerate(names):
            artist, song_title = name.split(" - ")
            for rep in range(int(rng.integers(1, 4))):
                records.append(
                    {
                        "ts": f"2024-01-{1 + u % 28:02d}T{k:02d}:{rep:02d}:00Z",
                        "username": f"user{u}",
                        "ms_played": 180_000,
                        "master_metadata_track_name": song_title,
                        "master_metadata_album_artist_name": artist,
                        "spotify_track_uri": f"spotify:track:{u}{k}",
                    }
                )
    history = root / "Streaming_History_Audio.json"
    history.write_text(json.dumps(records))
    db = root / "h.sqlite"
    import_history(history, db)
    lib = root / "music"
    lib.mkdir()
    for scene in range(SCENES):
        for a in range(3):
            for k in range(2):  # the two most played songs of every artist are in the library
                sf.write(str(lib / f"{title(scene, a, k)}.wav"), tune(scene, a * 4 + k), RATE, subtype="PCM_16")
        # Songs nobody has played yet, by a new artist of the scene.
        for k in range(2):
            sf.write(str(lib / f"Newcomer {scene} - Fresh {k}.wav"), tune(scene, 50 + k), RATE, subtype="PCM_16")
    scan = scan_library(lib, db, workers=2)
    assert scan.analysed == SCENES * 8 and not scan.failed
    return {"root": root, "db": db, "lib": lib, "played": played, "history": history}


def scene_of(label: str) -> int:
    name = label.split(" – ")[0]
    return int(name.split()[-1][0])


def test_known_user_gets_unplayed_items_of_their_scene(world: dict) -> None:
    rec = Recommender(world["db"])
    report = rec.recommend("user4", n=8, explain=True)
    assert report.known_user and len(report.items) == 8
    labels = [r.label for r in report.items]
    played = {p.replace(" - ", " – ") for p in world["played"]["user4"]}
    assert not set(labels) & played
    assert np.mean([scene_of(x) == 1 for x in labels]) >= 0.75
    assert all(r.explanation for r in report.items)
    assert any(r.explanation.startswith("because you played") for r in report.items)


def test_tracks_nobody_played_reach_listeners_through_their_sound(world: dict) -> None:
    rec = Recommender(world["db"])
    fresh = []
    for u in range(SCENES):
        report = rec.recommend(f"user{u}", n=12, explain=True)
        fresh += [(u, r) for r in report.items if r.label.startswith("Newcomer")]
    assert fresh, "no never-played library track was recommended"
    for u, r in fresh:
        assert r.source == "content" and r.path and Path(r.path).exists()
        assert scene_of(r.label) == u % SCENES  # it sounds like what they play
        assert "sounds like" in r.explanation


def test_unknown_user_gets_cold_start_suggestions(world: dict) -> None:
    rec = Recommender(world["db"])
    report = rec.recommend("usr4", n=5, explain=True)
    assert not report.known_user
    assert "no listening history for user 'usr4'" in report.notes[0]
    assert "did you mean 'user4'" in report.notes[0]
    assert len(report.items) == 5 and report.items[0].source in ("popular", "both")


def test_playlist_has_no_played_items_one_per_artist_and_reasons(world: dict, tmp_path: Path) -> None:
    rec = Recommender(world["db"])
    playlist = make_playlist(rec, "user7", "Discover Weekly", n=10, diversity=0.5, per_artist=1)
    played = {p.replace(" - ", " – ") for p in world["played"]["user7"]}
    labels = [e.label for e in playlist.entries]
    assert labels and not set(labels) & played
    artists = [e.artist for e in playlist.entries]
    assert len(artists) == len(set(artists))
    assert all(e.explanation for e in playlist.entries)
    m3u = write_playlist(playlist, tmp_path / "weekly.m3u8")
    lines = m3u.read_text().splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:Discover Weekly"]
    locations = [x for x in lines if x and not x.startswith("#")]
    assert len(locations) == sum(1 for e in playlist.entries if e.path or e.uri)
    doc = json.loads(write_playlist(playlist, tmp_path / "weekly.json").read_text())
    assert [e["position"] for e in doc["entries"]] == list(range(1, len(labels) + 1))
    with pytest.raises(UsageError, match="overwrite an input"):
        write_playlist(playlist, world["db"].with_suffix(".json"), inputs=[world["db"].with_suffix(".json")])
    with pytest.raises(UsageError, match=r"\.m3u8 or \.json"):
        write_playlist(playlist, tmp_path / "weekly.txt")


def test_more_like_this(world: dict) -> None:
    rec = Recommender(world["db"])
    path = world["lib"] / f"{title(2, 0, 0)}.wav"
    anchor, items = rec.similar(str(path), n=5)
    assert anchor.label == title(2, 0, 0).replace(" - ", " – ")
    assert np.mean([scene_of(r.label) == 2 for r in items]) >= 0.8
    assert all(r.explanation for r in items)
    with pytest.raises(UsageError, match="no item"):
        rec.similar("Nobody - Nothing")


def test_models_persist_and_update_incrementally(world: dict, tmp_path: Path) -> None:
    assert Recommender(world["db"]).model_info["collaborative"] == "loaded"
    extra = tmp_path / "late.csv"
    extra.write_text(f"{ARTISTS[0][0]},Album,Song 0,1 Feb 2024 10:00\n{ARTISTS[0][1]},Album,Song 1,1 Feb 2024 10:04\n")
    import_history(extra, world["db"], user="latecomer")
    rec = Recommender(world["db"])
    assert rec.model_info["collaborative"] == "updated"
    assert rec.recommend("latecomer", n=5).known_user


def test_empty_history_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no listening history yet"):
        Recommender(tmp_path / "missing.sqlite")


# --------------------------------------------------------------------------------------
# The commands


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tunesmith", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def test_cli_recommend_json_and_all_users(
    world: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(world["db"])
    code, out, _ = cli(
        monkeypatch, capsys, "recommend", "--user", "user2", "-n", "4", "--explain", "--json", "--db", db
    )
    doc = json.loads(out)
    assert code == 0 and doc["known_user"] and len(doc["items"]) == 4 and doc["items"][0]["explanation"]
    code, out, _ = cli(monkeypatch, capsys, "recommend", "--all-users", "-n", "3", "--json", "--db", db)
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(lines) >= USERS
    assert all(set(d) == {"user", "items"} and len(d["items"]) == 3 for d in lines)
    assert all(" - " in item for item in lines[0]["items"])  # ids as imported: "Artist - Title"
    code, out, err = cli(monkeypatch, capsys, "recommend", "--user", "ghost", "--json", "-n", "3", "--db", db)
    assert code == 0 and not json.loads(out)["known_user"] and "no listening history for user 'ghost'" in err


@pytest.mark.parametrize(
    ("args", "code", "problem"),
    [
        (["recommend", "-n", "3"], 2, "give either --user U or --all-users"),
        (["recommend", "--user", "a", "--all-users"], 2, "give either --user U or --all-users"),
        (["recommend", "--user", "user1", "--diversity", "2"], 2, "--diversity must be between 0 and 1"),
        (["playlist", "--user", "user1", "-o", "list.txt"], 2, "must end in .m3u8 or .json"),
        (["similar", "Nobody - Nothing"], 2, "no item"),
        (["library", "scan", "no-such-folder"], 1, "no such folder"),
    ],
)
def test_cli_errors_are_one_line(
    world: dict,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    code: int,
    problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    got, _, err = cli(monkeypatch, capsys, *args, "--db", str(world["db"]))
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tunesmith: error: ") and problem in lines[0], err


def test_cli_playlist_writes_file_and_recipe(
    world: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "weekly.m3u8"
    code, out, _ = cli(
        monkeypatch,
        capsys,
        "playlist",
        "--user",
        "user5",
        "--name",
        "Discover Weekly",
        "-n",
        "6",
        "-o",
        str(out_file),
        "--db",
        str(world["db"]),
        "--json",
    )
    assert code == 0 and out_file.exists() and recipe_path(out_file).exists()
    assert len(json.loads(out)["entries"]) == 6


def test_cli_import_and_scan_report(
    world: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(
        monkeypatch, capsys, "history", "import", str(world["history"]), "--db", str(tmp_path / "h.sqlite"), "--json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["added"] > 0 and doc["bad_rows"] == 0
    bad = tmp_path / "bad.tsv"
    bad.write_text("userID\tartistID\tweight\n1\t2\t3\n1\t3\tmany\n")
    code, out, err = cli(monkeypatch, capsys, "history", "import", str(bad), "--db", str(tmp_path / "h2.sqlite"))
    assert code == 0 and "1 bad rows not imported" in err and "line 3" in err
    code, out, _ = cli(monkeypatch, capsys, "library", "scan", str(world["lib"]), "--db", str(world["db"]), "--json")
    assert code == 0 and json.loads(out)["unchanged"] == SCENES * 8


def test_real_process_exit_codes(tmp_path: Path) -> None:
    broken = tmp_path / "Streaming_History.json"
    broken.write_text('[{"ts": "2024-01-01T00:00:00Z", "ms_played": 100000,')

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False
        )

    proc = run("history", "import", str(broken), "--db", str(tmp_path / "h.sqlite"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"tunesmith: error: {broken}: " + proc.stderr.split(f"{broken}: ", 1)[1].strip()
    ]
    proc = run("recommend", "--user", "me", "--db", str(tmp_path / "empty.sqlite"))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "no listening history yet" in proc.stderr
