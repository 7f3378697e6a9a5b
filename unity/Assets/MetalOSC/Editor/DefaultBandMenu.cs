using System.Collections.Generic;
using MetalOSC.Core;
using UnityEditor;
using UnityEngine;

namespace MetalOSC.Editor
{
    /// <summary>
    /// "MetalOSC/Fill Sample Maps From Default Band": writes the imported Default Band sample's clips
    /// into the selected clients' <see cref="MetalOscBehaviour.instruments"/>, one map per instrument,
    /// so they can be inspected and edited (the behaviour plays the default band on its own when an
    /// instrument has no map; this makes the choice explicit and saved with the scene).
    /// </summary>
    public static class DefaultBandMenu
    {
        private const string MenuPath = "MetalOSC/Fill Sample Maps From Default Band";
        private const string UndoName = "Fill Sample Maps From Default Band";

        [MenuItem(MenuPath)]
        private static void FillSelected()
        {
            Fill(SelectedClients());
        }

        [MenuItem(MenuPath, true)]
        private static bool CanFillSelected()
        {
            return SelectedClients().Count > 0;
        }

        [MenuItem("CONTEXT/MetalOscBehaviour/Fill Sample Maps From Default Band")]
        private static void FillFromContextMenu(MenuCommand command)
        {
            var client = command.context as MetalOscBehaviour;
            if (client != null) Fill(new List<MetalOscBehaviour> { client });
        }

        /// <summary>Every audio clip under a <c>Resources/MetalOSC/DefaultBand</c> folder of the project.</summary>
        public static List<AudioClip> FindDefaultBandClips()
        {
            var clips = new List<AudioClip>();
            string folder = "/Resources/" + DefaultBand.ResourcesFolder + "/";
            foreach (string guid in AssetDatabase.FindAssets("t:AudioClip"))
            {
                string path = AssetDatabase.GUIDToAssetPath(guid);
                if (path.IndexOf(folder, System.StringComparison.Ordinal) < 0) continue;
                AudioClip clip = AssetDatabase.LoadAssetAtPath<AudioClip>(path);
                if (clip != null) clips.Add(clip);
            }
            return clips;
        }

        private static void Fill(List<MetalOscBehaviour> clients)
        {
            List<AudioClip> clips = FindDefaultBandClips();
            if (DefaultBandMaps.FromClips(clips).Length == 0)
            {
                EditorUtility.DisplayDialog("MetalOSC",
                    "No Default Band clips in this project. Import the sample first: Window > Package Manager > "
                    + "MetalOSC Client > Samples > Default Band > Import.", "OK");
                return;
            }
            foreach (MetalOscBehaviour client in clients)
            {
                Undo.RecordObject(client, UndoName);
                client.instruments = DefaultBandMaps.FromClips(clips);
                EditorUtility.SetDirty(client);
            }
            Debug.Log("MetalOSC: filled the sample maps of " + clients.Count + " client(s) from " + clips.Count
                + " Default Band clips.");
        }

        private static List<MetalOscBehaviour> SelectedClients()
        {
            var clients = new List<MetalOscBehaviour>();
            foreach (GameObject selected in Selection.gameObjects)
            {
                var client = selected.GetComponent<MetalOscBehaviour>();
                if (client != null) clients.Add(client);
            }
            return clients;
        }
    }
}
