// Signatures of the few UnityEditor members the MetalOSC editor menu uses, with empty bodies, so CI
// (Mono, no Unity) can compile Editor/*.cs and catch typos and type errors there. Never part of a
// Unity build (Unity ignores folders whose names end in '~'). Keep it to real Unity signatures.
using System;
using UnityEngine;

namespace UnityEditor
{
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) { }
        public MenuItem(string itemName, bool isValidateFunction) { }
    }

    public sealed class MenuCommand
    {
        public UnityEngine.Object context;
    }

    public sealed class Selection
    {
        public static GameObject[] gameObjects { get { return new GameObject[0]; } }
    }

    public sealed class AssetDatabase
    {
        public static string[] FindAssets(string filter) { return new string[0]; }
        public static string GUIDToAssetPath(string guid) { return ""; }
        public static T LoadAssetAtPath<T>(string assetPath) where T : UnityEngine.Object { return null; }
    }

    public sealed class Undo
    {
        public static void RecordObject(UnityEngine.Object objectToUndo, string name) { }
    }

    public sealed class EditorUtility
    {
        public static void SetDirty(UnityEngine.Object target) { }
        public static bool DisplayDialog(string title, string message, string ok) { return true; }
    }
}
