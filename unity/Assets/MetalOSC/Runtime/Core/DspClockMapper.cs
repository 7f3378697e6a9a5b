using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Maps the local monotonic clock onto an audio DSP clock such as Unity's AudioSettings.dspTime.
    /// The DSP clock only advances once per audio buffer (tens of milliseconds), so a single reading
    /// lags real time by up to one buffer; dsp - local is largest right after the clock advanced, so
    /// the maximum over a sliding window of observations is the best estimate of the true relation,
    /// and the window lets it follow the slow drift of the sound card's crystal.
    /// Not thread-safe: observe and map on the thread that may read the DSP clock (Unity's main thread).
    /// </summary>
    public sealed class DspClockMapper
    {
        private readonly double[] _offsets;
        private int _count;
        private int _next;
        private double _offset;
        private bool _dirty;

        /// <param name="windowSize">Observations kept (one per frame: 120 ≈ 2 s at 60 fps).</param>
        public DspClockMapper(int windowSize = 120)
        {
            if (windowSize < 1) throw new ArgumentOutOfRangeException(nameof(windowSize), "must be at least 1");
            _offsets = new double[windowSize];
        }

        /// <summary>True after the first observation.</summary>
        public bool HasObservation
        {
            get { return _count > 0; }
        }

        /// <summary>dsp - local: the best current estimate (0 before the first observation).</summary>
        public double Offset
        {
            get
            {
                if (_dirty)
                {
                    // Recomputed once per observation, not once per note mapped.
                    double best = _count == 0 ? 0 : double.NegativeInfinity;
                    for (int i = 0; i < _count; i++)
                    {
                        if (_offsets[i] > best) best = _offsets[i];
                    }
                    _offset = best;
                    _dirty = false;
                }
                return _offset;
            }
        }

        /// <summary>Records one simultaneous reading of both clocks.</summary>
        public void Observe(double localTime, double dspTime)
        {
            double offset = dspTime - localTime;
            if (double.IsNaN(offset) || double.IsInfinity(offset))
            {
                throw new ArgumentException("clock readings must be finite");
            }
            _offsets[_next] = offset;
            _next = (_next + 1) % _offsets.Length;
            if (_count < _offsets.Length) _count++;
            _dirty = true;
        }

        /// <summary>Forgets all observations (e.g. after the audio device was reset).</summary>
        public void Reset()
        {
            _count = 0;
            _next = 0;
            _dirty = true;
        }

        /// <summary>The DSP time corresponding to a local clock reading.</summary>
        public double LocalToDsp(double localTime)
        {
            return localTime + Offset;
        }
    }
}
