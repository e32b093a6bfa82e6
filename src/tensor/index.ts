/** TensorFlow.js backend selection, the device report, and ops written for speed on wasm. */
export {
  BACKEND_PREFERENCE,
  availableBackends,
  currentBackend,
  deviceReport,
  formatDeviceReport,
  probeBackend,
  useBackend,
  type BackendName,
  type BackendProbe,
  type DeviceReport,
} from "./backend.js";
export { columnSums, transpose2d } from "./ops.js";
