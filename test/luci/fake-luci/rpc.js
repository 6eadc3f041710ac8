/*
 * FAKE LuCI client runtime, part 2 of 4: rpc.js and the router behind it.
 *
 * The router (window.__router, set up by the test) stands for uhttpd's ubus
 * handler and rpcd: `ubus` holds each object's methods, each answered with
 * { data } (ubus status 0), { status: N } (a bare status, no data: what rpcd
 * answers as UBUS_STATUS_NO_DATA when natnow prints nothing, 7 on a timeout)
 * and an optional delayMs; `acl` is the page's rpcd ACL file. As uhttpd's
 * ubus.c does: an object that is not registered is the JSON-RPC error -32000
 * "Object not found", a method the ACL does not grant -32002 "Access
 * denied", and the legacy "call" answers `result: [status, data?]`.
 *
 * rpc.declare follows rpc.js handleCallReply: without `expect` a status
 * without data resolves with the bare number; `reject: true` rejects it;
 * JSON-RPC errors reject with L.raise's message, stack lines appended.
 */
'use strict';

(function () {
	function statusText(code) {
		return [ 'Command OK', 'Invalid command', 'Invalid argument', 'Method not found', 'Resource not found',
			'No data received', 'Permission denied', 'Request timeout', 'Not supported', 'Unspecified error',
			'Connection lost' ][code] || 'Unknown error code';
	}

	/* L.raise(): the message gets the stack frames appended, in this form */
	function raise(type, msg) {
		var e = new Error(msg);
		e.name = type;
		e.message += '\n  at ClassConstructor.handleCallReply (http://192.168.1.1/luci-static/resources/rpc.js?v=25.12:140:5)' +
			'\n  at http://192.168.1.1/luci-static/resources/rpc.js?v=25.12:96:42';
		return e;
	}

	function granted(acl, object, method) {
		return Object.keys(acl).some(function (group) {
			return [ 'read', 'write' ].some(function (k) {
				var u = (acl[group][k] || {}).ubus || {};
				return Array.isArray(u[object]) && (u[object].indexOf(method) >= 0 || u[object].indexOf('*') >= 0);
			});
		});
	}

	/* uhttpd's ubus handler: the JSON-RPC frame it answers a legacy "call" with */
	function transport(object, method) {
		var router = window.__router;
		router.calls.push(object + '.' + method);
		var obj = router.ubus[object];
		if (!obj)
			return Promise.resolve({ jsonrpc: '2.0', error: { code: -32000, message: 'Object not found' } });
		if (object !== 'uci' && !granted(router.acl, object, method))
			return Promise.resolve({ jsonrpc: '2.0', error: { code: -32002, message: 'Access denied' } });
		var m = obj[method];
		if (!m)
			return Promise.resolve({ jsonrpc: '2.0', result: [ 3 ] });
		var answer = typeof m === 'function' ? m.apply(null, Array.prototype.slice.call(arguments, 2)) : m;
		return new Promise(function (resolve) {
			setTimeout(function () {
				if (answer.status)
					resolve({ jsonrpc: '2.0', result: [ answer.status ] });
				else
					resolve({ jsonrpc: '2.0', result: answer.data === undefined ? [ 0 ] : [ 0, JSON.parse(JSON.stringify(answer.data)) ] });
			}, answer.delayMs || 0);
		});
	}

	function handleCallReply(req, msg) {
		if (msg.error && msg.error.code && msg.error.message)
			throw raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
		var ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
		if (req.raise && msg.result[0] !== 0)
			throw raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' failed with ubus code ' + msg.result[0] + ': ' + statusText(msg.result[0]));
		if (req.expect) {
			var type = Object.prototype.toString;
			for (var key in req.expect) {
				if (ret != null && key != '') ret = ret[key];
				if (ret == null || type.call(ret) != type.call(req.expect[key])) ret = req.expect[key];
				break;
			}
		}
		if (typeof req.filter === 'function') ret = req.filter(ret, req.params);
		return ret;
	}

	var rpc = {
		declare: function (options) {
			return function () {
				var args = Array.prototype.slice.call(arguments), params = {};
				(options.params || []).forEach(function (p, i) { params[p] = args[i]; });
				var req = { object: options.object, method: options.method, expect: options.expect, filter: options.filter, raise: options.reject, params: params };
				return transport(options.object, options.method, params).then(function (msg) { return handleCallReply(req, msg); });
			};
		},
		getStatusText: function (code) { return _(statusText(code)); }
	};

	window.__luci = window.__luci || {};
	window.__luci.rpc = rpc;
	window.__luci.transport = transport;
})();
