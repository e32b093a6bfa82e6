/** TensorFlow.js backend selection, the device report, and ops written for speed on wasm. */
export {
  BACKEND_CHOICES,
  BACKEND_PREFERENCE,
  adapterText,
  availableBackends,
  backendCandidates,
  backendStatus,
  currentBackend,
  deviceReport,
  formatDeviceReport,
  isBackendChoice,
  onBackendChange,
  probeBackend,
  useBackend,
  ensureBackend,
  type BackendChoice,
  type BackendName,
  type BackendProbe,
  type DeviceReport,
  type SkipKind,
  type WebGpuAdapterInfo,
} from "./backend.js";
export { columnSums, transpose2d } from "./ops.js";
