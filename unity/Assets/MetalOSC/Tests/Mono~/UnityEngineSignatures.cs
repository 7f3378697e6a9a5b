// Signatures of the few UnityEngine members the MetalOSC behaviours use, with empty bodies, so CI
// (Mono, no Unity) can at least compile Runtime/*.cs and catch typos and type errors there.
// It proves nothing about behaviour in Unity and is never part of a Unity build: Unity ignores
// folders whose names end in '~'. Keep it to real Unity signatures.
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object obj) { }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public class MonoBehaviour : Behaviour { }

    public class Transform : Component
    {
        public void SetParent(Transform parent, bool worldPositionStays) { }
    }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T AddComponent<T>() where T : Component { return null; }
        public T GetComponent<T>() { return default(T); }
    }

    public static class Resources
    {
        public static T[] LoadAll<T>(string path) where T : Object { return new T[0]; }
    }

    public sealed class AudioClip : Object
    {
        public float length { get { return 0f; } }
    }

    public sealed class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public float pitch { get; set; }
        public float volume { get; set; }
        public bool playOnAwake { get; set; }
        public void PlayScheduled(double time) { }
        public void SetScheduledEndTime(double time) { }
    }

    public sealed class AudioSettings
    {
        public static double dspTime { get { return 0; } }
    }

    public sealed class Time
    {
        public static float realtimeSinceStartup { get { return 0f; } }
    }

    public struct Mathf
    {
        public static float Clamp01(float value) { return value; }
        public static float Max(float a, float b) { return a; }
    }

    public class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message, Object context) { }
        public static void LogError(object message, Object context) { }
    }

    public class AnimationCurve
    {
        public static AnimationCurve Linear(float timeStart, float valueStart, float timeEnd, float valueEnd) { return null; }
        public float Evaluate(float time) { return time; }
    }

    public sealed class HeaderAttribute : Attribute { public HeaderAttribute(string header) { } }
    public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string tooltip) { } }
    public sealed class RangeAttribute : Attribute { public RangeAttribute(float min, float max) { } }
    public sealed class AddComponentMenu : Attribute { public AddComponentMenu(string menuName) { } }
    public sealed class DisallowMultipleComponent : Attribute { }
}
