using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Turns a game's raw intensity signal into tension messages: an exponential moving average (so a
    /// single explosion does not slam the music), a dead band and a minimum interval (so a value that
    /// changes every frame does not flood the server with UDP packets).
    /// </summary>
    public sealed class TensionSmoother
    {
        private readonly double _timeConstant;
        private readonly double _minInterval;
        private readonly float _deadBand;
        private double _lastTime = double.NaN;
        private double _lastSentTime = double.NegativeInfinity;
        private float _lastSent = float.NaN;

        /// <param name="timeConstantSeconds">Time for the smoothed value to cover 63% of a step (0 = none).</param>
        /// <param name="minIntervalSeconds">Least time between two sends.</param>
        /// <param name="deadBand">Smallest change worth sending.</param>
        public TensionSmoother(double timeConstantSeconds, double minIntervalSeconds, float deadBand)
        {
            if (timeConstantSeconds < 0) throw new ArgumentOutOfRangeException(nameof(timeConstantSeconds));
            if (minIntervalSeconds < 0) throw new ArgumentOutOfRangeException(nameof(minIntervalSeconds));
            if (deadBand < 0) throw new ArgumentOutOfRangeException(nameof(deadBand));
            _timeConstant = timeConstantSeconds;
            _minInterval = minIntervalSeconds;
            _deadBand = deadBand;
        }

        /// <summary>The current smoothed value (0..1).</summary>
        public float Value { get; private set; }

        /// <summary>
        /// Feeds the raw intensity at time <paramref name="now"/> (seconds). Returns true with the value
        /// to send when a message is due. The first call always sends, so the server starts in step.
        /// </summary>
        public bool Update(float raw, double now, out float toSend)
        {
            float target = float.IsNaN(raw) ? 0f : Math.Max(0f, Math.Min(1f, raw));
            if (double.IsNaN(_lastTime) || _timeConstant == 0)
            {
                Value = target;
            }
            else
            {
                double dt = Math.Max(0, now - _lastTime);
                double alpha = 1 - Math.Exp(-dt / _timeConstant);
                Value = (float)(Value + (target - Value) * alpha);
            }
            _lastTime = now;
            // Within the dead band of the target the average snaps to it, so the server ends up at
            // exactly the value the game asked for instead of creeping towards it forever.
            if (Math.Abs(target - Value) < _deadBand) Value = target;
            toSend = Value;
            bool first = float.IsNaN(_lastSent);
            bool changed = Math.Abs(Value - _lastSent) >= _deadBand || (Value == target && Value != _lastSent);
            if (!first && (now - _lastSentTime < _minInterval || !changed))
            {
                return false;
            }
            _lastSent = Value;
            _lastSentTime = now;
            return true;
        }
    }
}
