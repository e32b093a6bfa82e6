"""Jupyter protocol tests of the crystal-rl kernel (tslab + src/notebook/kernel), with Debian's
jupyter_kernel_test 0.4.5. Run by test/notebook/kernel.test.ts, which installs the kernelspec into a
temporary JUPYTER_DATA_DIR and sets CRYSTAL_RL_KERNEL to its name:

    CRYSTAL_RL_KERNEL=crystal-rl /usr/bin/python3 -m unittest -v test/notebook/test_kernel.py
"""

import os
import unittest

import jupyter_kernel_test as jkt


class CrystalRLKernelTests(jkt.KernelTests):
    kernel_name = os.environ.get("CRYSTAL_RL_KERNEL", "crystal-rl")
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("to stderr")'
    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"crystal" + "-rl"', "result": "'crystal-rl'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        {"code": "const o = { a: 1, b: [true] };\no", "result": "{ a: 1, b: [ true ] }"},
    ]
    code_display_data = [
        {"code": 'import * as tslab from "tslab";\ntslab.display.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'import * as tslab from "tslab";\ntslab.display.markdown("**hi**")', "mime": "text/markdown"},
    ]

    complete_code_samples = ["1 + 1", "const x = 1;", "function f() { return 1; }"]
    incomplete_code_samples = ["function f() {", "const a = [1,"]
    completion_samples = [{"text": "Math.ma"}]
    code_inspect_sample = "Math.max"

    # --- what tslab alone got wrong, beyond the stock checks -------------------------------------

    def run_cell(self, code, **kw):
        self.flush_channels()
        reply, outputs = self.execute_helper(code, **kw)
        return reply["content"], outputs

    def only_error(self, outputs):
        kinds = [m["msg_type"] for m in outputs]
        self.assertEqual(kinds, ["error"], f"expected exactly one error output, got {kinds}")
        return outputs[0]["content"]

    def test_kernel_info_status(self):
        self.flush_channels()
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=jkt.TIMEOUT)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(reply["content"]["language_info"]["name"], "typescript")

    def test_runtime_error_fields(self):
        reply, outputs = self.run_cell('throw new RangeError("out of the cell")')
        err = self.only_error(outputs)
        self.assertEqual(err["ename"], "RangeError")
        self.assertEqual(err["evalue"], "out of the cell")
        self.assertTrue(any("RangeError: out of the cell" in line for line in err["traceback"]), err["traceback"])
        self.assertFalse(any("node_modules/tslab" in line for line in err["traceback"]), err["traceback"])
        self.assertEqual(reply["status"], "error")
        self.assertEqual((reply["ename"], reply["evalue"]), ("RangeError", "out of the cell"))

    def test_async_error(self):
        reply, outputs = self.run_cell('await new Promise((_, reject) => setTimeout(() => reject(new TypeError("later")), 10))')
        err = self.only_error(outputs)
        self.assertEqual((err["ename"], err["evalue"]), ("TypeError", "later"))
        self.assertEqual(reply["status"], "error")

    def test_thrown_non_error(self):
        _, outputs = self.run_cell('throw "just a string"')
        err = self.only_error(outputs)
        self.assertEqual((err["ename"], err["evalue"]), ("Uncaught", "just a string"))

    def test_compile_error(self):
        reply, outputs = self.run_cell('const n: number = "three";')
        err = self.only_error(outputs)
        self.assertEqual(err["ename"], "CompileError")
        self.assertIn("not assignable to type 'number'", err["evalue"])
        self.assertEqual(reply["status"], "error")

    def test_kernel_survives_errors(self):
        self.run_cell('throw new Error("first")')
        reply, outputs = self.run_cell("let survived = 1 + 1;\nsurvived")
        self.assertEqual(reply["status"], "ok")
        results = [m for m in outputs if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "2")

    def test_execution_count_in_result(self):
        reply, outputs = self.run_cell("40 + 2")
        result = next(m for m in outputs if m["msg_type"] == "execute_result")
        self.assertEqual(result["content"]["execution_count"], reply["execution_count"])

    def test_no_result_for_undefined(self):
        reply, outputs = self.run_cell("const nothing = undefined;\nnothing")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual([m["msg_type"] for m in outputs if m["msg_type"] == "execute_result"], [])

    def test_last_value_not_on_stdout(self):
        _, outputs = self.run_cell("1 + 2")
        self.assertEqual([m["msg_type"] for m in outputs], ["execute_result"])

    def test_rich_result(self):
        code = (
            'const rich = { [Symbol.for("Jupyter.display")]() { return { "text/html": "<i>rich</i>" }; } };\n'
            "rich"
        )
        _, outputs = self.run_cell(code)
        result = next(m for m in outputs if m["msg_type"] == "execute_result")
        self.assertEqual(result["content"]["data"]["text/html"], "<i>rich</i>")
        self.assertIn("text/plain", result["content"]["data"])

    def test_silent(self):
        reply, outputs = self.run_cell('console.log("quiet"); 5', silent=True)
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(outputs, [])

    def test_update_display(self):
        code = 'import * as tslab from "tslab";\nconst d = tslab.newDisplay();\nd.text("one");\nd.text("two");'
        _, outputs = self.run_cell(code)
        self.assertEqual([m["msg_type"] for m in outputs], ["display_data", "update_display_data"])
        ids = {m["content"]["transient"]["display_id"] for m in outputs}
        self.assertEqual(len(ids), 1)
        self.assertEqual(outputs[1]["content"]["data"]["text/plain"], "two")

    def test_import_crystal_rl(self):
        code = 'import { perovskite } from "crystal-rl";\nperovskite("Sr", "Ti", "O", 3.905).formula'
        reply, outputs = self.run_cell(code, timeout=60)
        self.assertEqual(reply["status"], "ok", outputs)
        result = next(m for m in outputs if m["msg_type"] == "execute_result")
        self.assertEqual(result["content"]["data"]["text/plain"], "'SrTiO3'")

    def test_comm_info(self):
        self.flush_channels()
        msg_id = self.kc.comm_info()
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        self.assertEqual(reply["header"]["msg_type"], "comm_info_reply")
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "ok")


if __name__ == "__main__":
    unittest.main()
