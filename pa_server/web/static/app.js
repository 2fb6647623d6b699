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

// Record a voice in the browser as 16-bit mono WAV (the server reads WAV; no codec needed)
// and put it in the form's file field.
function wavBlob(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + length * 2));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + length * 2, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, length * 2, true);
  let at = 44;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++, at += 2) {
      view.setInt16(at, Math.max(-1, Math.min(1, chunk[i])) * 0x7fff, true);
    }
  }
  return new Blob([view], { type: "audio/wav" });
}

document.querySelectorAll("form[data-recorder]").forEach((form) => {
  const controls = form.querySelector("[data-recorder-controls]");
  if (!controls || !navigator.mediaDevices || !window.AudioContext || !window.DataTransfer) return;
  controls.hidden = false;
  const [start, stop] = [form.querySelector("[data-record]"), form.querySelector("[data-stop]")];
  const status = form.querySelector("[data-recorder-status]");
  let session = null;
  start.addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const context = new AudioContext();
      const source = context.createMediaStreamSource(stream);
      const tap = context.createScriptProcessor(4096, 1, 1);
      const chunks = [];
      tap.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
      source.connect(tap); tap.connect(context.destination);
      session = { stream, context, chunks };
      start.disabled = true; stop.disabled = false; status.textContent = "Đang ghi âm…";
    } catch (err) {
      status.textContent = "Không mở được micro.";
    }
  });
  stop.addEventListener("click", () => {
    if (!session) return;
    session.stream.getTracks().forEach((t) => t.stop());
    const blob = wavBlob(session.chunks, session.context.sampleRate);
    session.context.close();
    const files = new DataTransfer();
    files.items.add(new File([blob], "ghi-am.wav", { type: "audio/wav" }));
    form.querySelector("input[type=file]").files = files.files;
    start.disabled = false; stop.disabled = true;
    status.textContent = "Đã ghi " + Math.round(blob.size / 1024) + " KB. Bấm Lưu để gửi.";
    session = null;
  });
});

// Live counts of a broadcast (emergency pages): poll its small JSON and refresh the numbers.
// The page shows the numbers at load without JavaScript; this only keeps them current.
document.querySelectorAll("[data-poll]").forEach((box) => {
  const url = box.getAttribute("data-poll");
  const refresh = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) return;
      const data = await response.json();
      box.querySelectorAll("[data-field]").forEach((cell) => {
        const value = data[cell.getAttribute("data-field")];
        if (value !== undefined && String(value) !== cell.textContent) cell.textContent = value;
      });
      box.setAttribute("data-state", data.state);
      box.querySelectorAll(".state-badge").forEach((badge) => badge.setAttribute("data-state", data.state));
    } catch (err) { /* offline for a moment: keep the last numbers */ }
  };
  const every = Number(box.getAttribute("data-poll-ms")) || 3000;
  setInterval(() => { if (!document.hidden) refresh(); }, every);
});
