using System;
using System.Globalization;

namespace MetalOSC.Core
{
    /// <summary>OSC argument type tags this codec understands.</summary>
    public enum OscArgType : byte
    {
        Int32 = (byte)'i',
        Float32 = (byte)'f',
        String = (byte)'s',
        True = (byte)'T',
        False = (byte)'F',
        /// <summary>64-bit integer ('h'); accepted so peers that widen ints still decode.</summary>
        Int64 = (byte)'h',
        /// <summary>64-bit float ('d'); a unix time only keeps sub-second precision as a double.</summary>
        Float64 = (byte)'d',
    }

    /// <summary>
    /// One OSC argument as a value type, so decoding a message into a reused argument list allocates
    /// nothing but its strings.
    /// </summary>
    public struct OscArgument : IEquatable<OscArgument>
    {
        /// <summary>The type tag this argument is written with.</summary>
        public OscArgType Type;

        /// <summary>Integer payload for 'i' and 'h'.</summary>
        public long IntValue;

        /// <summary>Float payload for 'f' and 'd' ('f' values are exactly representable here).</summary>
        public double FloatValue;

        /// <summary>String payload for 's'.</summary>
        public string StringValue;

        public static OscArgument Int(int value)
        {
            return new OscArgument { Type = OscArgType.Int32, IntValue = value };
        }

        public static OscArgument Long(long value)
        {
            return new OscArgument { Type = OscArgType.Int64, IntValue = value };
        }

        public static OscArgument Float(float value)
        {
            return new OscArgument { Type = OscArgType.Float32, FloatValue = value };
        }

        public static OscArgument Double(double value)
        {
            return new OscArgument { Type = OscArgType.Float64, FloatValue = value };
        }

        public static OscArgument Str(string value)
        {
            if (value == null) throw new ArgumentNullException(nameof(value));
            return new OscArgument { Type = OscArgType.String, StringValue = value };
        }

        public static OscArgument Bool(bool value)
        {
            return new OscArgument { Type = value ? OscArgType.True : OscArgType.False };
        }

        /// <summary>True for the integer types.</summary>
        public bool IsInteger
        {
            get { return Type == OscArgType.Int32 || Type == OscArgType.Int64; }
        }

        /// <summary>True for any numeric type: the protocol accepts an int where a float is expected.</summary>
        public bool IsNumber
        {
            get { return IsInteger || Type == OscArgType.Float32 || Type == OscArgType.Float64; }
        }

        /// <summary>The numeric value as a double (ints widened), for "f accepts i" decoding.</summary>
        public double AsDouble
        {
            get { return IsInteger ? IntValue : FloatValue; }
        }

        public bool Equals(OscArgument other)
        {
            return Type == other.Type && IntValue == other.IntValue
                && FloatValue.Equals(other.FloatValue)
                && string.Equals(StringValue, other.StringValue, StringComparison.Ordinal);
        }

        public override bool Equals(object obj)
        {
            return obj is OscArgument && Equals((OscArgument)obj);
        }

        public override int GetHashCode()
        {
            unchecked
            {
                int h = (int)Type;
                h = h * 31 + IntValue.GetHashCode();
                h = h * 31 + FloatValue.GetHashCode();
                return h * 31 + (StringValue == null ? 0 : StringValue.GetHashCode());
            }
        }

        public override string ToString()
        {
            switch (Type)
            {
                case OscArgType.Int32:
                case OscArgType.Int64:
                    return IntValue.ToString(CultureInfo.InvariantCulture);
                case OscArgType.Float32:
                case OscArgType.Float64:
                    return FloatValue.ToString("R", CultureInfo.InvariantCulture);
                case OscArgType.String:
                    return "\"" + StringValue + "\"";
                case OscArgType.True:
                    return "true";
                default:
                    return "false";
            }
        }
    }
}
