// Small helpers for the staff pages; every page works without them.
"use strict";

// Ask before a form marked data-confirm is sent (emergency broadcasts, deletions).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// Draw a waveform picture of an <audio data-wave> into the canvas that follows it.
async function drawWave(audio) {
  const canvas = audio.parentElement.querySelector("canvas.wave");
  if (!canvas || !window.AudioContext) return;
  try {
    const data = await (await fetch(audio.currentSrc || audio.src)).arrayBuffer();
    const buffer = await new AudioContext().decodeAudioData(data);
    const samples = buffer.getChannelData(0);
    const width = (canvas.width = canvas.clientWidth * devicePixelRatio);
    const height = (canvas.height = canvas.clientHeight * devicePixelRatio);
    const ctx = canvas.getContext("2d");
    const step = Math.max(1, Math.floor(samples.length / width));
    ctx.fillStyle = "#0b5cad";
    for (let x = 0; x < width; x++) {
      let peak = 0;
      for (let i = x * step; i < (x + 1) * step && i < samples.length; i++) {
        peak = Math.max(peak, Math.abs(samples[i]));
      }
      const h = Math.max(1, peak * height);
      ctx.fillRect(x, (height - h) / 2, 1, h);
    }
  } catch (err) {
    canvas.replaceWith(document.createTextNode(""));
  }
}
document.querySelectorAll("audio[data-wave]").forEach(drawWave);

// Live delivery progress on the overview page (server-sent events).
const live = document.querySelector("[data-events]");
if (live && window.EventSource) {
  const source = new EventSource(live.getAttribute("data-events"));
  source.onmessage = (event) => {
    try {
      const items = JSON.parse(event.data);
      for (const [id, text] of Object.entries(items)) {
        const cell = document.getElementById("progress-" + id);
        if (cell) cell.textContent = text;
      }
    } catch (err) { /* a bad message changes nothing on the page */ }
  };
}
