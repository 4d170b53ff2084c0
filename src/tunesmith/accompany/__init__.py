"""Real-time accompaniment: a band (chords, bass, drums) that plays along with a live performer.

The engine (:class:`Accompanist`) hears MIDI messages in time order and returns the
band's messages with the times they must sound; it never looks ahead, so the same
object runs live (``tunesmith accompany --input PORT``, :mod:`.scheduler`) and on a
file (``tunesmith accompany MELODY.mid -o band.mid``, :mod:`.offline`).
"""

from tunesmith.accompany.chords import ChordContext, ChordPredictor, DiatonicPredictor, PlayedSlot
from tunesmith.accompany.engine import Accompanist, AccompanySettings, BandEvent
from tunesmith.accompany.offline import accompany_file

__all__ = [
    "Accompanist",
    "AccompanySettings",
    "BandEvent",
    "ChordContext",
    "ChordPredictor",
    "DiatonicPredictor",
    "PlayedSlot",
    "accompany_file",
]
