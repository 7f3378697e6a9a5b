using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Estimates the offset between the server's unix clock and a local clock from ping/pong round
    /// trips (NTP/Cristian style): for a ping sent at local time s and answered at server time S, with
    /// the pong arriving at local time r, the server clock reads S at about local (s + r) / 2, so
    /// offset = S - (s + r) / 2, wrong by at most half the round trip. Samples whose round trip was
    /// stretched by queuing are worse, so of the last <c>windowSize</c> samples the one with the
    /// lowest round trip wins; the window keeps the estimate following slow drift between the clocks.
    /// Thread-safe: pings are sent from the game thread and pongs stamped on the receive thread.
    /// </summary>
    public sealed class ClockSync
    {
        private const int PendingSlots = 32;

        private readonly object _lock = new object();
        private readonly Func<double> _localClock;
        private readonly double _maxRoundTrip;
        private readonly double[] _offsets;
        private readonly double[] _roundTrips;
        private readonly int[] _pendingSeq = new int[PendingSlots];
        private readonly double[] _pendingSent = new double[PendingSlots];
        private int _count;
        private int _next;
        private int _seq;
        private double _seedOffset;
        private int _bestIndex = -1;

        /// <param name="localClock">Monotonic local seconds; called from more than one thread.</param>
        /// <param name="windowSize">How many recent samples compete for lowest round trip.</param>
        /// <param name="maxRoundTrip">Samples slower than this (seconds) are discarded as useless.</param>
        public ClockSync(Func<double> localClock, int windowSize = 16, double maxRoundTrip = 1.0)
        {
            if (localClock == null) throw new ArgumentNullException(nameof(localClock));
            if (windowSize < 1) throw new ArgumentOutOfRangeException(nameof(windowSize), "must be at least 1");
            if (!(maxRoundTrip > 0)) throw new ArgumentOutOfRangeException(nameof(maxRoundTrip), "must be positive");
            _localClock = localClock;
            _maxRoundTrip = maxRoundTrip;
            _offsets = new double[windowSize];
            _roundTrips = new double[windowSize];
            for (int i = 0; i < PendingSlots; i++) _pendingSeq[i] = -1;
        }

        /// <summary>True once at least one round trip has been measured.</summary>
        public bool HasEstimate
        {
            get { lock (_lock) return _count > 0; }
        }

        /// <summary>Number of samples in the window.</summary>
        public int SampleCount
        {
            get { lock (_lock) return _count; }
        }

        /// <summary>
        /// server_time - local_time in seconds: the winning sample's offset, or the seed (see
        /// <see cref="Seed"/>) before the first pong.
        /// </summary>
        public double Offset
        {
            get { lock (_lock) return _bestIndex < 0 ? _seedOffset : _offsets[_bestIndex]; }
        }

        /// <summary>Round trip of the winning sample (seconds); +inf before the first pong.</summary>
        public double RoundTrip
        {
            get { lock (_lock) return _bestIndex < 0 ? double.PositiveInfinity : _roundTrips[_bestIndex]; }
        }

        /// <summary>Half the winning round trip: the bound on the offset's error.</summary>
        public double Uncertainty
        {
            get { return RoundTrip / 2; }
        }

        /// <summary>
        /// Sets the offset used until the first round trip is measured, e.g. system unix time minus the
        /// local clock, which is exact when the server runs on the same machine.
        /// </summary>
        public void Seed(double offset)
        {
            lock (_lock) _seedOffset = offset;
        }

        /// <summary>Maps a server unix time onto the local clock.</summary>
        public double ServerToLocal(double serverTime)
        {
            return serverTime - Offset;
        }

        /// <summary>Maps a local clock reading onto server unix time.</summary>
        public double LocalToServer(double localTime)
        {
            return localTime + Offset;
        }

        /// <summary>
        /// Starts a ping: records the local send time and returns the sequence number to put in the ping
        /// so the pong can be matched to it. Call right before sending.
        /// </summary>
        public int BeginPing()
        {
            double now = _localClock();
            lock (_lock)
            {
                int seq = _seq;
                _seq = _seq == int.MaxValue ? 0 : _seq + 1;
                int slot = seq % PendingSlots;
                _pendingSeq[slot] = seq;
                _pendingSent[slot] = now;
                return seq;
            }
        }

        /// <summary>
        /// Completes the ping <paramref name="seq"/> with the pong's server time and the local time the
        /// pong arrived. Returns false for unknown, duplicate or too-old pings and for too-slow round trips.
        /// </summary>
        public bool CompletePing(int seq, double serverTime, double localReceived)
        {
            double sent;
            lock (_lock)
            {
                if (seq < 0) return false;
                int slot = seq % PendingSlots;
                if (_pendingSeq[slot] != seq) return false;
                _pendingSeq[slot] = -1;
                sent = _pendingSent[slot];
            }
            return AddSample(sent, serverTime, localReceived);
        }

        /// <summary>
        /// Adds one measured round trip. Returns false (and ignores it) when the round trip is negative,
        /// not finite or slower than the configured maximum.
        /// </summary>
        public bool AddSample(double localSent, double serverTime, double localReceived)
        {
            double rtt = localReceived - localSent;
            if (double.IsNaN(rtt) || double.IsInfinity(rtt) || rtt < 0 || rtt > _maxRoundTrip
                || double.IsNaN(serverTime) || double.IsInfinity(serverTime))
            {
                return false;
            }
            double offset = serverTime - (localSent + localReceived) / 2;
            lock (_lock)
            {
                _offsets[_next] = offset;
                _roundTrips[_next] = rtt;
                _next = (_next + 1) % _offsets.Length;
                if (_count < _offsets.Length) _count++;
                // Newest first so that, among equal round trips, the most recent sample wins.
                int best = -1;
                for (int k = 1; k <= _count; k++)
                {
                    int i = (_next - k + _offsets.Length) % _offsets.Length;
                    if (best < 0 || _roundTrips[i] < _roundTrips[best]) best = i;
                }
                _bestIndex = best;
            }
            return true;
        }
    }
}
