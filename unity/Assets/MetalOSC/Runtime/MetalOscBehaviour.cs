using System;
using System.Net.Sockets;
using MetalOSC.Core;
using UnityEngine;

namespace MetalOSC
{
    /// <summary>
    /// Connects a scene to the MetalOSC daemon: owns a <see cref="MetalOscClient"/>, pumps its events
    /// on the main thread every frame, and plays each note sample-accurately with
    /// <c>AudioSource.PlayScheduled</c> at the note's time on <c>AudioSettings.dspTime</c>.
    /// Deliberately thin: decoding, clock sync, sample choice and voice allocation live in
    /// MetalOSC.Core, where they are tested without Unity.
    /// </summary>
    [AddComponentMenu("MetalOSC/MetalOSC Client")]
    [DisallowMultipleComponent]
    public sealed class MetalOscBehaviour : MonoBehaviour
    {
        [Header("Server")]
        public string serverHost = "127.0.0.1";

        public int serverPort = 9000;

        [Tooltip("Local UDP port; 0 picks a free one.")]
        public int localPort;

        [Tooltip("Ask for notes at sound time instead of timetagged bundles ahead of time (less precise).")]
        public bool immediateMode;

        [Header("Music")]
        [Range(0f, 1f)]
        public float initialTension = 0.5f;

        [Tooltip("Send /metal/play when connecting.")]
        public bool playOnConnect = true;

        [Header("Playback")]
        [Tooltip("The samples each instrument plays; instruments without a map use the default band (below).")]
        public InstrumentSampleMap[] instruments = new InstrumentSampleMap[0];

        [Tooltip("Instruments without a sample map play the Default Band sample (Package Manager > MetalOSC Client > "
            + "Samples > Import), loaded from Resources/" + DefaultBand.ResourcesFolder + ".")]
        public bool useDefaultBand = true;

        [Tooltip("Notes that arrive later than this (seconds) are dropped instead of played late.")]
        public float lateTolerance = 0.05f;

        public bool logServerErrors = true;

        private Voices[] _voices;

        /// <summary>The client (null while disabled). Subscribe to its events for beats, phrases, state.</summary>
        public MetalOscClient Client { get; private set; }

        /// <summary>The last /metal/state the server sent (see <see cref="HasState"/>).</summary>
        public StateEvent LastState { get; private set; }

        public bool HasState { get; private set; }

        public int NotesPlayed { get; private set; }

        public int NotesDroppedLate { get; private set; }

        public int NotesWithoutSample { get; private set; }

        /// <summary>Sends the tension directly (see <see cref="MetalOscTensionDriver"/> for smoothing).</summary>
        public void SetTension(float value)
        {
            if (Client != null) Client.SetTension(Mathf.Clamp01(value));
        }

        private void OnEnable()
        {
            BuildVoices();
            var client = new MetalOscClient(new MetalOscClientOptions
            {
                ServerHost = serverHost,
                ServerPort = serverPort,
                LocalPort = localPort,
                Mode = immediateMode ? MetalMessages.ModeImmediate : MetalMessages.ModeBundle,
                // Read only inside Pump, i.e. on the main thread, as Unity requires.
                DspClock = () => AudioSettings.dspTime,
            });
            client.NoteScheduled += PlayNote;
            client.StateReceived += OnState;
            client.ErrorReceived += OnServerError;
            client.DecodeFailed += OnDecodeFailed;
            try
            {
                client.Start();
                client.SetTension(Mathf.Clamp01(initialTension));
                if (playOnConnect) client.Play();
            }
            catch (Exception e) when (e is SocketException || e is ArgumentException)
            {
                // A taken port or an unknown host is a set-up mistake: say so once and stay off.
                Debug.LogError("MetalOSC: cannot connect to " + serverHost + ":" + serverPort + ": " + e.Message, this);
                client.Dispose();
                DestroyVoices();
                enabled = false;
                return;
            }
            Client = client;
        }

        private void Update()
        {
            if (Client != null) Client.Pump();
        }

        private void OnDisable()
        {
            if (Client != null)
            {
                Client.Dispose();
                Client = null;
            }
            DestroyVoices();
        }

        private void PlayNote(ScheduledNote note)
        {
            Voices voices = _voices[(int)note.Instrument];
            if (voices == null)
            {
                NotesWithoutSample++;
                return;
            }
            double now = AudioSettings.dspTime;
            double start = note.LocalDspTime;
            if (start < now - lateTolerance)
            {
                NotesDroppedLate++;
                return;
            }
            if (start < now) start = now;
            int index = SampleSelection.Nearest(voices.Pitches, note.Pitch, voices.Map.maxShiftSemitones);
            AudioClip clip = index < 0 ? null : voices.Map.samples[index].clip;
            if (clip == null)
            {
                NotesWithoutSample++;
                return;
            }
            float ratio = SampleSelection.PitchRatio(voices.Pitches[index], note.Pitch);
            double end = voices.Map.ringOut ? start + clip.length / ratio : start + note.DurationSeconds;
            AudioSource source = voices.Sources[voices.Allocator.Allocate(now, end)];
            source.clip = clip;
            source.pitch = ratio;
            source.volume = SampleSelection.Gain(note.Velocity, voices.Map.volume);
            source.PlayScheduled(start);
            if (!voices.Map.ringOut) source.SetScheduledEndTime(end);
            NotesPlayed++;
        }

        private void OnState(StateEvent state)
        {
            LastState = state;
            HasState = true;
        }

        private void OnServerError(ErrorEvent error)
        {
            if (logServerErrors) Debug.LogWarning("MetalOSC server rejected " + error.Address + ": " + error.Reason, this);
        }

        private void OnDecodeFailed(string problem)
        {
            if (logServerErrors) Debug.LogWarning("MetalOSC: undecodable packet: " + problem, this);
        }

        private void BuildVoices()
        {
            _voices = new Voices[InstrumentNames.Count];
            var maps = new InstrumentSampleMap[InstrumentNames.Count];
            foreach (InstrumentSampleMap map in instruments)
            {
                if (map != null && map.samples.Length > 0) maps[(int)map.instrument] = map;
            }
            if (useDefaultBand && Array.IndexOf(maps, null) >= 0)
            {
                // Loaded only when an instrument needs it: a project with its own samples never pays for it.
                foreach (InstrumentSampleMap map in DefaultBandMaps.LoadFromResources())
                {
                    if (maps[(int)map.instrument] == null) maps[(int)map.instrument] = map;
                }
            }
            var silent = new System.Collections.Generic.List<string>();
            for (int i = 0; i < maps.Length; i++)
            {
                if (maps[i] == null) silent.Add(((Instrument)i).ToWireName());
            }
            if (silent.Count > 0)
            {
                Debug.LogWarning("MetalOSC: no samples for " + string.Join(", ", silent.ToArray()) + ": fill Instruments, or import "
                    + "the Default Band sample (Window > Package Manager > MetalOSC Client > Samples) and keep Use Default Band on.", this);
            }
            foreach (InstrumentSampleMap map in maps)
            {
                if (map == null) continue;
                var voices = new Voices
                {
                    Map = map,
                    Pitches = map.Pitches(),
                    Sources = new AudioSource[map.voices],
                    Allocator = new VoiceAllocator(map.voices),
                };
                for (int i = 0; i < map.voices; i++)
                {
                    var child = new GameObject("MetalOSC " + map.instrument.ToWireName() + " voice " + i);
                    child.transform.SetParent(transform, false);
                    AudioSource source = child.AddComponent<AudioSource>();
                    source.playOnAwake = false;
                    voices.Sources[i] = source;
                }
                _voices[(int)map.instrument] = voices;
            }
        }

        private void DestroyVoices()
        {
            if (_voices == null) return;
            foreach (Voices voices in _voices)
            {
                if (voices == null) continue;
                foreach (AudioSource source in voices.Sources)
                {
                    if (source != null) Destroy(source.gameObject);
                }
            }
            _voices = null;
        }

        private sealed class Voices
        {
            public InstrumentSampleMap Map;
            public int[] Pitches;
            public AudioSource[] Sources;
            public VoiceAllocator Allocator;
        }
    }
}
