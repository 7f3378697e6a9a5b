using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Assigns scheduled notes to a fixed set of voices (Unity AudioSources). Re-programming an
    /// AudioSource cuts whatever it is playing at that moment, so a voice counts as free only when its
    /// last note has ended by the time it is re-programmed (now, ahead of the note's start). When none
    /// is free the one that frees up soonest is stolen: the note nearest its end is cut, and the new
    /// note is never dropped.
    /// </summary>
    public sealed class VoiceAllocator
    {
        private readonly double[] _busyUntil;

        public VoiceAllocator(int voices)
        {
            if (voices < 1) throw new ArgumentOutOfRangeException(nameof(voices), "need at least one voice");
            _busyUntil = new double[voices];
            for (int i = 0; i < voices; i++) _busyUntil[i] = double.NegativeInfinity;
        }

        /// <summary>Number of voices.</summary>
        public int Count
        {
            get { return _busyUntil.Length; }
        }

        /// <summary>Notes that had to cut another one short.</summary>
        public int Steals { get; private set; }

        /// <summary>
        /// Picks a voice to re-program at <paramref name="now"/> for a note that keeps it busy until
        /// <paramref name="busyUntil"/> (both on the DSP clock), and returns its index.
        /// </summary>
        public int Allocate(double now, double busyUntil)
        {
            if (!(busyUntil >= now)) throw new ArgumentException("busyUntil must not be before now");
            int chosen = 0;
            for (int i = 1; i < _busyUntil.Length; i++)
            {
                if (_busyUntil[i] < _busyUntil[chosen]) chosen = i;
            }
            if (_busyUntil[chosen] > now) Steals++;
            _busyUntil[chosen] = busyUntil;
            return chosen;
        }
    }
}
