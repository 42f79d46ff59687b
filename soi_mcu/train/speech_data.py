"""Speech in noise for training and evaluating the speech models, on any fresh machine.

Synthetic task: speech from espeak-ng (voices x variants x rates x pitches over built-in sentences;
the sentences are split so that test utterances never appear in training), resampled to the
model's rate and cached on disk (~/.cache/soi-mcu/speech, or $SOI_MCU_CACHE/speech), mixed with
generated noises (white/pink/brown, babble of other utterances, hum with harmonics, clicks,
modulated noise) at SNRs drawn from a range. Everything is drawn from a numpy Generator: the same
seed gives the same mixtures.

User data: `DnsFolder` mixes clean/ and noise/ WAVs of a DNS-challenge-style folder on the fly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from soi_mcu import paths
from soi_mcu.errors import SoiError

SENTENCES = {
    "en": (
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Please call Stella and ask her to bring these things with her from the store.",
        "A large size in stockings is hard to sell.",
        "The birch canoe slid on the smooth planks.",
        "Glue the sheet to the dark blue background.",
        "It is easy to tell the depth of a well.",
        "These days a chicken leg is a rare dish.",
        "Rice is often served in round bowls.",
        "The juice of lemons makes fine punch.",
        "The box was thrown beside the parked truck.",
        "Four hours of steady work faced us.",
        "The small pup gnawed a hole in the sock.",
        "The fish twisted and turned on the bent hook.",
        "Press the pants and sew a button on the vest.",
        "The swan dive was far short of perfect.",
        "The beauty of the view stunned the young boy.",
        "Two blue fish swam in the tank.",
        "Her purse was full of useless trash.",
        "The colt reared and threw the tall rider.",
        "It snowed, rained, and hailed the same morning.",
        "Read verse out loud for pleasure.",
        "Hoist the load to your left shoulder.",
        "Take the winding path to reach the lake.",
        "Note closely the size of the gas tank.",
        "Wipe the grease off his dirty face.",
        "Mend the coat before you go out.",
        "The wrist was badly strained and hung limp.",
        "The stray cat gave birth to kittens.",
        "The young girl gave no clear response.",
        "The meal was cooked before the bell rang.",
        "What joy there is in living.",
        "A king ruled the state in the early days.",
        "The ship was torn apart on the sharp reef.",
        "Sickness kept him home the third week.",
        "The wide road shimmered in the hot sun.",
        "The lazy cow lay in the cool grass.",
        "Lift the square stone over the fence.",
        "The rope will bind the seven books at once.",
        "Hop over the fence and plunge in.",
        "The friendly gang left the drug store.",
    ),
    "de": (
        "Der Zug nach Hamburg hat heute leider zwanzig Minuten Verspätung.",
        "Im Sommer fahren wir gerne mit dem Fahrrad an den See.",
        "Die Katze schläft den ganzen Nachmittag auf dem warmen Sofa.",
        "Kannst du mir bitte sagen, wie spät es ist?",
        "Morgen früh beginnt die Besprechung um neun Uhr.",
    ),
    "fr": (
        "Le petit chat dort tranquillement sur le rebord de la fenêtre.",
        "Nous allons au marché tous les samedis matin.",
        "Il fait très beau aujourd'hui, allons nous promener au parc.",
        "Pouvez-vous répéter la question, s'il vous plaît?",
        "Le train pour Lyon part du quai numéro trois.",
    ),
    "es": (
        "El perro corre alegremente por la playa al amanecer.",
        "Mañana vamos a visitar a nuestros abuelos en el pueblo.",
        "La biblioteca cierra a las ocho de la noche.",
        "¿Dónde está la estación de autobuses más cercana?",
        "Me gusta tomar café con leche por la mañana.",
    ),
}
VOICES = {"en": ("en", "en-us"), "de": ("de",), "fr": ("fr",), "es": ("es",)}
VARIANTS = ("m1", "m2", "m3", "f1", "f2", "f3")
TEST_SHARE = 0.2  # the last fifth of each language's sentences is held out for the test split
NOISE_KINDS = ("white", "pink", "brown", "babble", "hum", "clicks", "modulated")


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str  # espeak-ng voice with variant, e.g. "en-us+f2"
    rate: int  # words per minute (-s)
    pitch: int  # 0..99 (-p)

    def key(self, sample_rate: int) -> str:
        text = f"{self.text}|{self.voice}|{self.rate}|{self.pitch}|{sample_rate}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return paths.cache_dir("speech")


def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SoiError("espeak-ng not found: apt-get install espeak-ng")
    return path


def utterance_list(split: str, count: int, seed: int = 1234) -> list[Utterance]:
    """A fixed list of `count` utterances of the split ("train" or "test")."""
    if split not in ("train", "test"):
        raise SoiError(f"unknown split '{split}'; use 'train' or 'test'")
    rng = np.random.default_rng(seed + (0 if split == "train" else 1))
    pool = []
    for lang, sentences in SENTENCES.items():
        cut = len(sentences) - max(1, round(TEST_SHARE * len(sentences)))
        chosen = sentences[:cut] if split == "train" else sentences[cut:]
        pool += [(lang, s) for s in chosen]
    out = []
    for _ in range(count):
        lang, text = pool[rng.integers(len(pool))]
        voice = f"{VOICES[lang][rng.integers(len(VOICES[lang]))]}+{VARIANTS[rng.integers(len(VARIANTS))]}"
        out.append(Utterance(text, voice, int(rng.integers(120, 221)), int(rng.integers(20, 81))))
    return out


def synthesize(utt: Utterance, sample_rate: int) -> np.ndarray:
    """float32 mono at sample_rate; synthesized once, then read from the cache."""
    path = cache_dir() / str(sample_rate) / f"{utt.key(sample_rate)}.wav"
    if path.exists():
        return read_wav(path, sample_rate)
    exe = espeak()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd = [exe, "-v", utt.voice, "-s", str(utt.rate), "-p", str(utt.pitch), "-w", str(raw), utt.text]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not raw.exists():
            raise SoiError(f"espeak-ng failed for voice {utt.voice}: {proc.stderr.strip() or proc.returncode}")
        audio = read_wav(raw, sample_rate)
    audio = audio / max(float(np.abs(audio).max()), 1e-6) * 0.9
    part = path.with_suffix(f".{os.getpid()}.tmp")
    write_wav(part, audio, sample_rate)
    part.replace(path)  # atomic: parallel runs never read half a file
    return audio


def load_corpus(split: str, count: int, sample_rate: int, progress: Callable[[str], None] | None = None) -> list[np.ndarray]:
    utts = utterance_list(split, count)
    missing = sum(not (cache_dir() / str(sample_rate) / f"{u.key(sample_rate)}.wav").exists() for u in utts)
    if missing and progress:
        progress(f"synthesizing {missing} {split} utterances with espeak-ng into {cache_dir()}")
    return [synthesize(u, sample_rate) for u in utts]


# ---- WAV I/O and resampling (stdlib wave + numpy) ----

def read_wav(path: Path, sample_rate: int | None = None, start_s: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """Mono float32 in [-1, 1]; resampled to sample_rate when given; optionally a segment only."""
    try:
        with wave.open(str(path), "rb") as w:
            sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            start = min(int(start_s * sr), n)
            w.setpos(start)
            raw = w.readframes(n - start if seconds is None else int(np.ceil(seconds * sr)))
    except (wave.Error, EOFError) as exc:
        raise SoiError(f"{path}: not a PCM WAV file the wave module can read ({exc})") from None
    x = _pcm_to_float(raw, width).reshape(-1, ch).mean(axis=1)
    return resample(x, sr, sample_rate) if sample_rate and sample_rate != sr else x


def wav_info(path: Path) -> tuple[int, int]:
    """(sample rate, frames) of a WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate(), w.getnframes()
    except (wave.Error, EOFError) as exc:
        raise SoiError(f"{path}: not a PCM WAV file the wave module can read ({exc})") from None


def _pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    if width == 4:
        return (np.frombuffer(raw, "<i4").astype(np.float64) / 2**31).astype(np.float32)
    raise SoiError(f"unsupported WAV sample width of {width} bytes")


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """FFT resampling (ideal low-pass at the lower Nyquist) of a whole signal."""
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float32)
    n_out = max(1, round(len(x) * sr_out / sr_in))
    spec = np.fft.rfft(x)
    keep = min(len(spec), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, complex)
    out[:keep] = spec[:keep]
    return (np.fft.irfft(out, n=n_out) * (n_out / len(x))).astype(np.float32)


# ---- noises and mixing ----

def coloured_noise(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    """1/f^alpha power spectrum: 0 white, 1 pink, 2 brown."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.arange(len(spec)), 1.0)
    x = np.fft.irfft(spec / f ** (alpha / 2), n=n)
    return x / (x.std() + 1e-9)


def hum(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    f0 = rng.uniform(50, 400)
    t = np.arange(n) / sample_rate
    x = np.zeros(n)
    for k in range(1, int(min(12, sample_rate / 2 / f0)) + 1):
        x += rng.uniform(0.2, 1.0) / k ** rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3))
    return x + 0.05 * x.std() * rng.standard_normal(n)


def clicks(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    x = 0.02 * rng.standard_normal(n)
    for _ in range(rng.poisson(rng.uniform(2, 20) * n / sample_rate) + 1):
        at, dur = int(rng.integers(n)), int(rng.uniform(0.001, 0.015) * sample_rate)
        burst = rng.standard_normal(dur) * np.exp(-np.arange(dur) / max(dur / 4, 1)) * rng.uniform(0.3, 1.0)
        x[at: at + dur] += burst[: n - at]
    return x


def make_noise(kind: str, rng: np.random.Generator, n: int, sample_rate: int, pool: list[np.ndarray]) -> np.ndarray:
    if kind in ("white", "pink", "brown"):
        return coloured_noise(rng, n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
    if kind == "babble":
        return sum(crop(pool[rng.integers(len(pool))], n, rng) * rng.uniform(0.5, 1.0) for _ in range(rng.integers(3, 7)))
    if kind == "hum":
        return hum(rng, n, sample_rate)
    if kind == "clicks":
        return clicks(rng, n, sample_rate)
    if kind == "modulated":
        env = 1 + 0.9 * np.sin(2 * np.pi * rng.uniform(0.3, 4) * np.arange(n) / sample_rate + rng.uniform(0, 6.3))
        return coloured_noise(rng, n, rng.uniform(0, 2)) * env
    raise SoiError(f"unknown noise kind '{kind}'; use one of {NOISE_KINDS}")


def crop(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) >= n:
        at = int(rng.integers(len(x) - n + 1))
        return x[at: at + n]
    out = np.zeros(n, np.float32)
    at = int(rng.integers(n - len(x) + 1))
    out[at: at + len(x)] = x
    return out


def speech_segment(pool: list[np.ndarray], n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Utterances back to back with short pauses, cropped to n samples at a random offset."""
    parts, total = [], 0
    while total < 2 * n:
        parts += [pool[rng.integers(len(pool))], np.zeros(int(rng.uniform(0.05, 0.4) * sample_rate), np.float32)]
        total += len(parts[-2]) + len(parts[-1])
    return crop(np.concatenate(parts), n, rng)


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator,
        level_db: tuple[float, float] = (-35.0, -15.0)) -> tuple[np.ndarray, np.ndarray]:
    """Noise scaled to snr_db against the clean signal; both scaled to a random mixture RMS."""
    p_clean = float(np.mean(clean ** 2)) + 1e-12
    p_noise = float(np.mean(noise ** 2)) + 1e-12
    noisy = clean + noise * np.sqrt(p_clean / p_noise / 10 ** (snr_db / 10))
    gain = 10 ** (rng.uniform(*level_db) / 20) / (np.sqrt(np.mean(noisy ** 2)) + 1e-9)
    gain = min(gain, 0.99 / (np.abs(noisy).max() + 1e-9))
    return (noisy * gain).astype(np.float32), (clean * gain).astype(np.float32)


class MixtureSource(Protocol):
    sample_rate: int

    def sample(self, rng: np.random.Generator, batch: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean), each (batch, samples) float32."""
        ...


class SyntheticSpeechNoise:
    """espeak-ng speech in generated noise; `split` keeps test sentences out of training."""

    def __init__(self, sample_rate: int, split: str = "train", utterances: int | None = None,
                 snr_db: tuple[float, float] = (-5.0, 10.0), progress: Callable[[str], None] | None = None) -> None:
        self.sample_rate = sample_rate
        self.snr_db = snr_db
        count = utterances or (240 if split == "train" else 48)
        self.pool = load_corpus(split, count, sample_rate, progress)

    def sample(self, rng: np.random.Generator, batch: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
        noisy, clean = [], []
        for _ in range(batch):
            speech = speech_segment(self.pool, samples, rng, self.sample_rate)
            kinds = rng.choice(NOISE_KINDS, size=1 + int(rng.random() < 0.3), replace=False)
            noise = sum(make_noise(str(k), rng, samples, self.sample_rate, self.pool) * rng.uniform(0.5, 1) for k in kinds)
            x, s = mix(speech, noise, rng.uniform(*self.snr_db), rng)
            noisy.append(x)
            clean.append(s)
        return np.stack(noisy), np.stack(clean)


class DnsFolder:
    """A DNS-challenge-style folder: clean/ and noise/ WAVs (any depth), mixed on the fly."""

    def __init__(self, root: Path, sample_rate: int, snr_db: tuple[float, float] = (-5.0, 10.0)) -> None:
        self.root = Path(root)
        self.sample_rate = sample_rate
        self.snr_db = snr_db
        self.clean = self._wavs("clean")
        self.noise = self._wavs("noise")

    def _wavs(self, sub: str) -> list[tuple[Path, int, int]]:
        folder = self.root / sub
        if not folder.is_dir():
            raise SoiError(f"{folder} is missing: a DNS-style data folder needs clean/ and noise/ subfolders of WAV files")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".wav")
        if not files:
            raise SoiError(f"{folder} has no .wav files")
        return [(p, *wav_info(p)) for p in files]

    def _segment(self, entry: tuple[Path, int, int], seconds: float, rng: np.random.Generator, n: int) -> np.ndarray:
        path, sr, frames = entry
        span = int(np.ceil(seconds * sr))
        start = int(rng.integers(max(frames - span, 0) + 1))
        x = read_wav(path, self.sample_rate, start / sr, seconds)
        return crop(x, n, rng) if len(x) < n else x[:n]

    def sample(self, rng: np.random.Generator, batch: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
        seconds = samples / self.sample_rate
        noisy, clean = [], []
        for _ in range(batch):
            s = self._segment(self.clean[rng.integers(len(self.clean))], seconds, rng, samples)
            v = self._segment(self.noise[rng.integers(len(self.noise))], seconds, rng, samples)
            x, c = mix(s, v, rng.uniform(*self.snr_db), rng)
            noisy.append(x)
            clean.append(c)
        return np.stack(noisy), np.stack(clean)


def fixed_set(source: MixtureSource, count: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible evaluation set: the same seed gives the same mixtures."""
    return source.sample(np.random.default_rng(seed), count, samples)
