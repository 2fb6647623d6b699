// Live microphone page: 48 kHz mono 16-bit PCM over a WebSocket while the button is held.
(() => {
  "use strict";
  const root = document.getElementById("live-mic");
  if (!root) return;
  const talk = document.getElementById("live-talk");
  const endButton = document.getElementById("live-end");
  const meter = document.getElementById("live-level");
  const status = document.getElementById("live-status");
  const CLOSED = {
    1000: "Đã kết thúc phát.",
    4403: "Không được phép: phiên phát đã kết thúc hoặc đang mở ở trang khác.",
    4400: "Âm thanh gửi lên không hợp lệ; hãy tải lại trang.",
  };
  const MIC_ERRORS = {
    NotAllowedError: "Trình duyệt chưa cho dùng micrô. Bấm biểu tượng ổ khóa cạnh địa chỉ trang, chọn cho phép Micrô, rồi tải lại trang.",
    NotFoundError: "Máy này không có micrô. Hãy cắm micrô (hoặc dùng điện thoại), rồi tải lại trang.",
    NotReadableError: "Micrô đang bận ở ứng dụng khác. Hãy tắt ứng dụng đó (cuộc gọi, ghi âm), rồi tải lại trang.",
    insecure: "Trình duyệt chỉ cho dùng micrô khi trang được mở bằng địa chỉ https://. Hãy hỏi người quản trị địa chỉ đó.",
    other: "Không mở được micrô. Hãy kiểm tra micrô rồi tải lại trang.",
  };
  const latch = document.getElementById("live-latch");
  // A phone has no space bar: its hint names the button only.
  const touch = window.matchMedia("(pointer: coarse)").matches;
  const READY = touch
    ? "Đã sẵn sàng. Giữ nút để nói."
    : "Đã sẵn sàng. Giữ nút (hoặc phím cách) để nói.";
  const ON_AIR = "Đang phát: các loa đang nghe bạn nói.";
  let ws = null;
  let talking = false;

  function say(text) { status.textContent = text; }

  function open() { return ws !== null && ws.readyState === WebSocket.OPEN; }

  // The button, its words and the status line always say whether the loudspeakers hear you,
  // and how to stop: release (hold-to-talk) or press again (latched).
  function setTalking(on) {
    talking = on && open();
    const latched = latch !== null && latch.checked;
    talk.classList.toggle("on", talking);
    status.classList.toggle("on-air", talking);
    if (talking) {
      talk.textContent = latched ? "Đang nói… (bấm lần nữa để dừng)" : "Đang nói… (thả ra để dừng)";
    } else {
      talk.textContent = latched ? "Bấm để nói" : "Giữ để nói";
    }
    if (open()) say(talking ? ON_AIR : READY);
  }

  async function start() {
    let media;
    if (!navigator.mediaDevices) { say(MIC_ERRORS.insecure); return; }
    try {
      media = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      // The browser's own words are English; say what happened and what to do instead.
      say(MIC_ERRORS[err && err.name] || MIC_ERRORS.other);
      return;
    }
    // 48 kHz: the stream's own rate, so the server does not resample.
    const ctx = new AudioContext({ sampleRate: 48000 });
    const source = ctx.createMediaStreamSource(media);
    // ScriptProcessor: deprecated but everywhere, and needs no second script file.
    const proc = ctx.createScriptProcessor(1024, 1, 1);
    proc.onaudioprocess = (event) => {
      const x = event.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(x.length);
      let peak = 0;
      for (let i = 0; i < x.length; i++) {
        const v = Math.max(-1, Math.min(1, x[i]));
        peak = Math.max(peak, Math.abs(v));
        pcm[i] = v < 0 ? v * 32768 : v * 32767;
      }
      meter.value = peak;
      if (talking && ws.readyState === WebSocket.OPEN) ws.send(pcm.buffer);
    };
    source.connect(proc);
    proc.connect(ctx.destination); // it runs only when connected; its output stays silent

    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + root.dataset.wsPath);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send(root.dataset.token);
      talk.disabled = false;
      endButton.disabled = false;
      setTalking(false);
    };
    ws.onclose = (event) => {
      setTalking(false);
      talk.disabled = true;
      endButton.disabled = true;
      say(CLOSED[event.code] || "Mất kết nối tới máy chủ.");
      media.getTracks().forEach((t) => t.stop());
    };
  }

  // Hold-to-talk by default; "Nói liên tục" latches the microphone on until unticked.
  talk.addEventListener("pointerdown", (e) => {
    // A thumb that slides a little while holding keeps talking; a long press opens no menu.
    if (talk.setPointerCapture) talk.setPointerCapture(e.pointerId);
    setTalking(latch && latch.checked ? !talking : true);
  });
  talk.addEventListener("contextmenu", (e) => e.preventDefault());
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
    talk.addEventListener(name, () => { if (!(latch && latch.checked)) setTalking(false); });
  }
  if (latch) latch.addEventListener("change", () => setTalking(latch.checked && talking));

  // How many of the session's loudspeakers are connected now (the server asks snapserver).
  const reached = document.querySelector("[data-testid=reached]");
  async function poll() {
    try {
      const r = await fetch(root.dataset.statusPath, { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        reached.textContent = "Loa đang nhận: " + s.reached.length + "/" + s.device_ids.length + " loa";
        if (s.ended_at) return;
      }
    } catch (err) { /* the next poll tries again */ }
    setTimeout(poll, 3000);
  }
  if (reached && root.dataset.statusPath) setTimeout(poll, 3000);
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !e.repeat && !talk.disabled) { e.preventDefault(); setTalking(true); }
  });
  document.addEventListener("keyup", (e) => { if (e.code === "Space") setTalking(false); });
  endButton.addEventListener("click", () => {
    setTalking(false);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send("end");
  });
  start();
})();
