using MetalOSC.Core;
using UnityEngine;

namespace MetalOSC
{
    /// <summary>
    /// Maps the game's state to the server's tension: game code (or an Animator, or a UnityEvent)
    /// sets <see cref="intensity"/>; a response curve shapes it and a <see cref="TensionSmoother"/>
    /// smooths and rate-limits it, so the music follows the game without jumping on every spike and
    /// without sending a packet every frame.
    /// </summary>
    [AddComponentMenu("MetalOSC/MetalOSC Tension Driver")]
    public sealed class MetalOscTensionDriver : MonoBehaviour
    {
        [Tooltip("The client to send to; found on this GameObject when empty.")]
        public MetalOscBehaviour target;

        [Tooltip("Raw game intensity 0..1 (enemies near, health low, boss phase ...).")]
        [Range(0f, 1f)]
        public float intensity;

        [Tooltip("Maps intensity (x) to tension (y).")]
        public AnimationCurve response = AnimationCurve.Linear(0f, 0f, 1f, 1f);

        [Tooltip("Seconds for tension to cover 63% of a change.")]
        public float smoothingSeconds = 1f;

        [Tooltip("Least time between two /metal/tension messages.")]
        public float minIntervalSeconds = 0.1f;

        [Tooltip("Smallest change worth sending.")]
        public float deadBand = 0.01f;

        private TensionSmoother _smoother;

        /// <summary>For UnityEvents and game code: sets <see cref="intensity"/> (clamped to 0..1).</summary>
        public void SetIntensity(float value)
        {
            intensity = Mathf.Clamp01(value);
        }

        private void OnEnable()
        {
            if (target == null) target = GetComponent<MetalOscBehaviour>();
            _smoother = new TensionSmoother(
                Mathf.Max(0f, smoothingSeconds), Mathf.Max(0f, minIntervalSeconds), Mathf.Max(0f, deadBand));
        }

        private void Update()
        {
            if (target == null || target.Client == null) return;
            float tension;
            if (_smoother.Update(response.Evaluate(intensity), Time.realtimeSinceStartup, out tension))
            {
                target.Client.SetTension(tension);
            }
        }
    }
}
