using System;

namespace MetalOSC.Core
{
    /// <summary>
    /// Turns decoded OSC messages from the server into typed <see cref="MetalEvent"/>s, checking argument
    /// count and types the way the Python protocol does (an int is accepted where a float is expected).
    /// Pure: no I/O, no clock, so every rule is unit-tested without a socket.
    /// </summary>
    public static class MetalEventParser
    {
        /// <summary>
        /// Parses <paramref name="message"/> (delivered inside a bundle tagged <paramref name="timeTag"/>).
        /// Returns false for an address outside the server→client space, so a newer server's extra events
        /// are skipped instead of treated as errors; throws <see cref="MetalProtocolException"/> when a
        /// known address carries the wrong arguments.
        /// </summary>
        public static bool TryParse(OscMessage message, ulong timeTag, out MetalEvent result)
        {
            if (message == null) throw new ArgumentNullException(nameof(message));
            result = default(MetalEvent);
            result.TimeTag = timeTag;
            switch (message.Address)
            {
                case MetalAddresses.Note:
                    Expect(message, MetalRanges.NoteMinArgs, MetalRanges.NoteMaxArgs);
                    result.Kind = MetalEventKind.Note;
                    result.Note.Instrument = GetInstrument(message, 0);
                    result.Note.Pitch = GetInt(message, 1);
                    result.Note.Velocity = GetInt(message, 2);
                    result.Note.DurationSeconds = GetFloat(message, 3);
                    result.Note.Beat = GetFloat(message, 4);
                    if (result.Note.Pitch < MetalRanges.NotePitchMin || result.Note.Pitch > MetalRanges.NotePitchMax)
                    {
                        throw new MetalProtocolException(message.Address, "pitch " + result.Note.Pitch + " outside "
                            + MetalRanges.NotePitchMin + ".." + MetalRanges.NotePitchMax);
                    }
                    if (result.Note.Velocity < MetalRanges.NoteVelocityMin || result.Note.Velocity > MetalRanges.NoteVelocityMax)
                    {
                        throw new MetalProtocolException(message.Address, "velocity " + result.Note.Velocity + " outside "
                            + MetalRanges.NoteVelocityMin + ".." + MetalRanges.NoteVelocityMax);
                    }
                    if (result.Note.DurationSeconds < MetalRanges.NoteDurationSMin || result.Note.Beat < MetalRanges.NoteBeatMin)
                    {
                        throw new MetalProtocolException(message.Address, "duration and beat must not be negative");
                    }
                    return true;
                case MetalAddresses.Beat:
                    Expect(message, MetalRanges.BeatMinArgs, MetalRanges.BeatMaxArgs);
                    result.Kind = MetalEventKind.Beat;
                    result.Beat.Bar = GetInt(message, 0);
                    result.Beat.Beat = GetInt(message, 1);
                    return true;
                case MetalAddresses.Phrase:
                    Expect(message, MetalRanges.PhraseStartedMinArgs, MetalRanges.PhraseStartedMaxArgs);
                    result.Kind = MetalEventKind.Phrase;
                    result.Phrase.Instrument = GetInstrument(message, 0);
                    result.Phrase.Id = GetInt(message, 1);
                    result.Phrase.Tension = GetFloat(message, 2);
                    return true;
                case MetalAddresses.State:
                    Expect(message, MetalRanges.StateMinArgs, MetalRanges.StateMaxArgs);
                    result.Kind = MetalEventKind.State;
                    result.State.Playing = GetBool(message, 0);
                    result.State.Tension = GetFloat(message, 1);
                    result.State.Bpm = GetFloat(message, 2);
                    result.State.Temperature = GetFloat(message, 3);
                    result.State.GuitarMuted = GetBool(message, 4);
                    result.State.BassMuted = GetBool(message, 5);
                    result.State.DrumsMuted = GetBool(message, 6);
                    result.State.Scene = GetString(message, 7);
                    result.State.Key = GetString(message, 8);
                    result.State.Transition = GetString(message, 9);
                    return true;
                case MetalAddresses.Section:
                    Expect(message, MetalRanges.SectionStartedMinArgs, MetalRanges.SectionStartedMaxArgs);
                    result.Kind = MetalEventKind.Section;
                    result.Section.Index = GetInt(message, 0);
                    result.Section.Label = GetString(message, 1);
                    result.Section.Key = GetString(message, 2);
                    result.Section.Tension = GetFloat(message, 3);
                    return true;
                case MetalAddresses.Error:
                    Expect(message, MetalRanges.ErrorMinArgs, MetalRanges.ErrorMaxArgs);
                    result.Kind = MetalEventKind.Error;
                    result.Error.Address = GetString(message, 0);
                    result.Error.Reason = GetString(message, 1);
                    return true;
                case MetalAddresses.Pong:
                    if (message.Count < 1)
                    {
                        throw new MetalProtocolException(message.Address, "expected at least the server time");
                    }
                    result.Kind = MetalEventKind.Pong;
                    int last = message.Count - 1;
                    result.Pong.ServerTime = GetDouble(message, last);
                    result.Pong.Arguments = new OscArgument[last];
                    message.Arguments.CopyTo(0, result.Pong.Arguments, 0, last);
                    return true;
                default:
                    return false;
            }
        }

        /// <summary>
        /// Requires <paramref name="min"/>..<paramref name="max"/> arguments (from the generated
        /// <see cref="MetalRanges"/>); only the ones this client knows are read.
        /// </summary>
        private static void Expect(OscMessage message, int min, int max)
        {
            if (message.Count < min || message.Count > max)
            {
                string expected = min == max ? min.ToString() : min + ".." + max;
                throw new MetalProtocolException(
                    message.Address, "expected " + expected + " arguments, got " + message.Count);
            }
        }

        private static int GetInt(OscMessage message, int index)
        {
            OscArgument arg = message[index];
            if (!arg.IsInteger)
            {
                throw new MetalProtocolException(message.Address, "argument " + index + " must be an int, got '" + (char)arg.Type + "'");
            }
            if (arg.IntValue < int.MinValue || arg.IntValue > int.MaxValue)
            {
                throw new MetalProtocolException(message.Address, "argument " + index + " does not fit in 32 bits");
            }
            return (int)arg.IntValue;
        }

        private static float GetFloat(OscMessage message, int index)
        {
            return (float)GetDouble(message, index);
        }

        private static double GetDouble(OscMessage message, int index)
        {
            OscArgument arg = message[index];
            if (!arg.IsNumber)
            {
                throw new MetalProtocolException(message.Address, "argument " + index + " must be a number, got '" + (char)arg.Type + "'");
            }
            double value = arg.AsDouble;
            if (double.IsNaN(value) || double.IsInfinity(value))
            {
                throw new MetalProtocolException(message.Address, "argument " + index + " is not finite");
            }
            return value;
        }

        private static bool GetBool(OscMessage message, int index)
        {
            OscArgument arg = message[index];
            if (arg.Type == OscArgType.True) return true;
            if (arg.Type == OscArgType.False) return false;
            if (arg.IsInteger && (arg.IntValue == 0 || arg.IntValue == 1)) return arg.IntValue == 1;
            throw new MetalProtocolException(message.Address, "argument " + index + " must be 0/1 or T/F");
        }

        private static string GetString(OscMessage message, int index)
        {
            OscArgument arg = message[index];
            if (arg.Type != OscArgType.String)
            {
                throw new MetalProtocolException(message.Address, "argument " + index + " must be a string, got '" + (char)arg.Type + "'");
            }
            return arg.StringValue;
        }

        private static Instrument GetInstrument(OscMessage message, int index)
        {
            string name = GetString(message, index);
            Instrument instrument;
            if (!InstrumentNames.TryParse(name, out instrument))
            {
                throw new MetalProtocolException(message.Address, "unknown instrument '" + name + "'");
            }
            return instrument;
        }
    }
}
