// QR scanning for the counter terminal (PAGES.md, "Staff terminal"): the camera on a user's tap, decoding with the
// browser's own BarcodeDetector when it reads QR codes, otherwise the vendored `barcode-detector` ponyfill
// (ZXing-C++ WebAssembly), loaded on demand with its .wasm served from our static files, never from a CDN.

/** How often a video frame is handed to the detector, in milliseconds. */
const DETECT_INTERVAL_MS = 150;

/** The ponyfill's ES build (self-contained: it imports only ./zxing-exported.js beside it). */
const PONYFILL_URL = new URL("./vendor/barcode-detector/ponyfill.js", import.meta.url).href;

/**
 * Our copy of zxing-wasm's reader. The ponyfill's default locateFile points at fastly.jsdelivr.net; the override in
 * loadPonyfill() replaces it, so the only request for the .wasm goes to /static/vendor/zxing-wasm/.
 */
const WASM_URL = new URL("./vendor/zxing-wasm/zxing_reader.wasm", import.meta.url).href;

/**
 * @typedef {object} CameraAvailability
 * @property {boolean} ok true when the page may ask for the camera
 * @property {"insecure" | "unsupported" | null} reason "insecure": not HTTPS (nor localhost), so the browser
 *   hides the camera; "unsupported": no navigator.mediaDevices.getUserMedia; null when ok
 */

/**
 * @typedef {object} QrDetector
 * @property {(source: ImageBitmapSource) => Promise<string[]>} detect the raw values of the QR codes in `source`
 *   (a <video>, <img>, <canvas>, ImageBitmap, ImageData or Blob); empty when none is found
 */

/**
 * Whether this page can use the camera at all, checked before showing the "Scan" button.
 * @returns {CameraAvailability}
 */
export function cameraAvailable() {
  if (!window.isSecureContext) {
    return { ok: false, reason: "insecure" };
  }
  if (typeof navigator.mediaDevices?.getUserMedia !== "function") {
    return { ok: false, reason: "unsupported" };
  }
  return { ok: true, reason: null };
}

/** @type {Promise<any> | null} the ponyfill module once it is loaded, shared by every detector */
let ponyfill = null;

/**
 * Loads the vendored ponyfill (first call only) and points its .wasm at our static URL, then instantiates the
 * WebAssembly module so a failure to load it surfaces here rather than at the first frame.
 * @returns {Promise<any>} the ponyfill module (BarcodeDetector, prepareZXingModule, ...)
 */
function loadPonyfill() {
  if (ponyfill === null) {
    ponyfill = (async () => {
      const module = await import(PONYFILL_URL);
      await module.prepareZXingModule({
        overrides: {
          /**
           * @param {string} path the file the Emscripten loader asks for
           * @param {string} prefix the directory it would use by default
           * @returns {string}
           */
          locateFile: (path, prefix) => (path.endsWith(".wasm") ? WASM_URL : prefix + path),
        },
        fireImmediately: true,
      });
      return module;
    })();
    ponyfill.catch(() => {
      ponyfill = null; // a later tap tries again (e.g. after a network error)
    });
  }
  return ponyfill;
}

/**
 * Whether the browser's own BarcodeDetector exists and reads QR codes (Chrome on Android, macOS, ChromeOS).
 * @returns {Promise<boolean>}
 */
async function nativeReadsQr() {
  const Native = /** @type {any} */ (globalThis).BarcodeDetector;
  if (typeof Native !== "function" || typeof Native.getSupportedFormats !== "function") {
    return false;
  }
  try {
    const formats = await Native.getSupportedFormats();
    return Array.isArray(formats) && formats.includes("qr_code");
  } catch {
    return false;
  }
}

/**
 * A QR detector: the native BarcodeDetector when it reads QR codes, otherwise the vendored ponyfill (loaded only
 * now, so only on the page that scans and only when the browser lacks its own).
 * @returns {Promise<QrDetector>}
 */
export async function createQrDetector() {
  const Detector = (await nativeReadsQr())
    ? /** @type {any} */ (globalThis).BarcodeDetector
    : (await loadPonyfill()).BarcodeDetector;
  const detector = new Detector({ formats: ["qr_code"] });
  return {
    /**
     * @param {ImageBitmapSource} source
     * @returns {Promise<string[]>}
     */
    async detect(source) {
      /** @type {Array<{rawValue: string, format: string}>} */
      const found = await detector.detect(source);
      return found.filter((barcode) => barcode.format === "qr_code").map((barcode) => barcode.rawValue);
    },
  };
}

/**
 * The AbortError a scan rejects with when its signal aborts.
 * @param {AbortSignal} signal
 * @returns {DOMException}
 */
function abortError(signal) {
  const reason = signal.reason;
  if (reason instanceof DOMException && reason.name === "AbortError") {
    return reason;
  }
  return new DOMException("The scan was cancelled.", "AbortError");
}

/**
 * Stops every track of the camera stream and detaches it from the <video>, which turns the camera light off.
 * @param {MediaStream} stream
 * @param {HTMLVideoElement} video
 */
function release(stream, video) {
  for (const track of stream.getTracks()) {
    track.stop();
  }
  if (video.srcObject === stream) {
    video.pause();
    video.srcObject = null;
  }
}

/**
 * Opens the rear camera in `video` and resolves with the raw value of the first QR code seen. Call it only from a
 * user's tap: the permission prompt must follow a user action. The camera is released when a code is found, when
 * `signal` aborts (the promise then rejects with an AbortError) and on any error, which is rethrown as it came:
 * a refused permission stays a NotAllowedError, no camera a NotFoundError, a camera in use a NotReadableError.
 * @param {HTMLVideoElement} video where the camera picture is shown
 * @param {{signal?: AbortSignal}} [options] `signal` cancels the scan ("Cancel" button, leaving the page)
 * @returns {Promise<string>}
 */
export function scanOnce(video, { signal } = {}) {
  if (signal?.aborted) {
    return Promise.reject(abortError(signal));
  }
  // getUserMedia first, before any await, so the request stays inside the tap's user activation.
  const streamRequest = navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  const detectorRequest = createQrDetector();
  detectorRequest.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"

  return new Promise((resolve, reject) => {
    /** @type {MediaStream | null} */
    let stream = null;
    let timer = 0;
    let finished = false;

    /**
     * Ends the scan once: releases the camera, then settles the promise.
     * @param {() => void} settle resolves or rejects
     */
    const finish = (settle) => {
      if (finished) {
        return;
      }
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (stream !== null) {
        release(stream, video);
      }
      settle();
    };
    /** @param {unknown} error */
    const fail = (error) => finish(() => reject(error));
    const onAbort = () => fail(abortError(/** @type {AbortSignal} */ (signal)));
    signal?.addEventListener("abort", onAbort, { once: true });

    const run = async () => {
      const opened = await streamRequest;
      if (finished) {
        release(opened, video); // aborted while the permission prompt was open
        return;
      }
      stream = opened;
      video.muted = true;
      video.playsInline = true;
      video.setAttribute("playsinline", ""); // older iOS Safari reads the attribute only
      video.srcObject = stream;
      await video.play();
      const detector = await detectorRequest;

      const tick = async () => {
        if (finished) {
          return;
        }
        try {
          if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0) {
            const values = await detector.detect(video);
            if (values.length > 0) {
              const value = values[0];
              finish(() => resolve(value));
              return;
            }
          }
          if (!finished) {
            timer = window.setTimeout(tick, DETECT_INTERVAL_MS);
          }
        } catch (error) {
          fail(error);
        }
      };
      await tick();
    };
    run().catch(fail);
  });
}
