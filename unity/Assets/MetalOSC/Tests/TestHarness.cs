using System;
using System.Collections.Generic;
using System.Globalization;

namespace MetalOSC.Tests
{
    /// <summary>Raised by <see cref="Check"/> when an expectation fails.</summary>
    public sealed class CheckFailedException : Exception
    {
        public CheckFailedException(string message) : base(message)
        {
        }
    }

    /// <summary>
    /// Assertions for the Mono-run test program. A few lines instead of NUnit, because Debian's
    /// mono-mcs ships no test framework and the suite must run where only mcs and mono exist.
    /// </summary>
    public static class Check
    {
        public static void True(bool condition, string what)
        {
            if (!condition) throw new CheckFailedException("expected true: " + what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                throw new CheckFailedException(what + ": expected <" + expected + "> but got <" + actual + ">");
            }
        }

        public static void Near(double expected, double actual, double tolerance, string what)
        {
            if (double.IsNaN(actual) || Math.Abs(expected - actual) > tolerance)
            {
                throw new CheckFailedException(string.Format(CultureInfo.InvariantCulture,
                    "{0}: expected {1:R} ± {2:R} but got {3:R}", what, expected, tolerance, actual));
            }
        }

        public static void SameBytes(byte[] expected, byte[] actual, string what)
        {
            string e = BitConverter.ToString(expected);
            string a = BitConverter.ToString(actual);
            if (e != a) throw new CheckFailedException(what + ": expected bytes " + e + " but got " + a);
        }

        /// <summary>Runs <paramref name="action"/> and requires exactly an exception of type T.</summary>
        public static T Throws<T>(Action action, string what) where T : Exception
        {
            try
            {
                action();
            }
            catch (T e)
            {
                return e;
            }
            catch (Exception e)
            {
                throw new CheckFailedException(what + ": expected " + typeof(T).Name + " but got "
                    + e.GetType().Name + ": " + e.Message);
            }
            throw new CheckFailedException(what + ": expected " + typeof(T).Name + " but nothing was thrown");
        }
    }

    /// <summary>Runs named test cases, prints one line per failure and a summary.</summary>
    public sealed class TestRunner
    {
        private readonly List<KeyValuePair<string, Action>> _cases = new List<KeyValuePair<string, Action>>();

        public void Add(string name, Action test)
        {
            _cases.Add(new KeyValuePair<string, Action>(name, test));
        }

        /// <summary>Runs every case whose name contains <paramref name="filter"/>; returns the failure count.</summary>
        public int Run(string filter)
        {
            int passed = 0, failed = 0;
            foreach (var test in _cases)
            {
                if (filter != null && test.Key.IndexOf(filter, StringComparison.Ordinal) < 0) continue;
                try
                {
                    test.Value();
                    passed++;
                    Console.WriteLine("PASS " + test.Key);
                }
                catch (Exception e)
                {
                    failed++;
                    Console.WriteLine("FAIL " + test.Key + ": " + e.GetType().Name + ": " + e.Message);
                    if (!(e is CheckFailedException)) Console.WriteLine(e.StackTrace);
                }
            }
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed;
        }
    }
}
