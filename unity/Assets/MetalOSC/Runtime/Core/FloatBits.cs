using System.Runtime.InteropServices;

namespace MetalOSC.Core
{
    /// <summary>
    /// Reinterprets float bits as an int and back without unsafe code or allocation.
    /// (BitConverter.SingleToInt32Bits is missing from .NET Framework profiles Unity may target.)
    /// </summary>
    [StructLayout(LayoutKind.Explicit)]
    internal struct FloatBits
    {
        [FieldOffset(0)] private int _int;
        [FieldOffset(0)] private float _float;

        public static int ToInt32(float value)
        {
            var bits = new FloatBits { _float = value };
            return bits._int;
        }

        public static float ToSingle(int value)
        {
            var bits = new FloatBits { _int = value };
            return bits._float;
        }
    }
}
