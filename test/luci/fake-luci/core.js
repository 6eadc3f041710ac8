/*
 * FAKE LuCI client runtime, part 1 of 4: E, dom, ui, poll, view and the
 * view loader, for luci-app-natnow's browser tests. It is a stand-in for
 * luci-base written from reading luci.js and ui.js, and copies their
 * behaviour where the page depends on it, quirks included:
 *  - the footer (view.addFooter) has "Save & Apply", "Save" and "Reset",
 *    calling the view's handleSaveApply, handleSave and handleReset; the
 *    base view's handleReset re-renders every map (discarding form input);
 *  - ui.createHandlerFn disables the clicked button until the handler's
 *    promise settles;
 *  - errors raised by LuCI (L.raise) carry stack lines in their message.
 * What the page wrote and called is recorded on window.__router (router.js
 * in rpc.js).
 */
'use strict';

(function () {
	var translations = {};

	window._ = function (s) { return translations[s] || s; };

	/* luci.js String.prototype.format: %s, %d, %% (and the width forms the page does not use) */
	String.prototype.format = function () {
		var args = arguments, i = 0;
		return this.replace(/%(%|s|d)/g, function (_m, t) {
			if (t === '%') return '%';
			var v = args[i++];
			return t === 'd' ? String(Math.floor(Number(v))) : String(v);
		});
	};

	function append(el, children) {
		if (children === undefined || children === null || children === '') return;
		if (!Array.isArray(children)) children = [children];
		children.forEach(function (c) {
			if (c === undefined || c === null || c === '') return;
			if (Array.isArray(c)) append(el, c);
			else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
		});
	}

	/* luci.js E(): attributes whose value is a function are event listeners; null/undefined ones are left out */
	window.E = function (tag, attrs, children) {
		if (Array.isArray(tag)) {
			var frag = document.createDocumentFragment();
			append(frag, tag);
			return frag;
		}
		var el = document.createElement(tag);
		if (attrs && (Array.isArray(attrs) || typeof attrs !== 'object' || attrs instanceof Node)) {
			children = attrs;
			attrs = {};
		}
		attrs = attrs || {};
		Object.keys(attrs).forEach(function (k) {
			var v = attrs[k];
			if (v === null || v === undefined) return;
			if (typeof v === 'function') el.addEventListener(k, v);
			else el.setAttribute(k, v);
		});
		append(el, children);
		return el;
	};

	var dom = {
		append: function (node, children) { append(node, children); return node; },
		content: function (node, children) {
			while (node.firstChild) node.removeChild(node.firstChild);
			append(node, children);
			return node;
		},
		bindClassInstance: function (node, inst) { node.__luciInstance = inst; },
		findClassInstance: function (node) {
			for (var n = node; n; n = n.parentNode) if (n.__luciInstance) return n.__luciInstance;
			return null;
		},
		callClassMethod: function (node, method) {
			var inst = dom.findClassInstance(node);
			return inst ? inst[method].apply(inst, Array.prototype.slice.call(arguments, 2)) : null;
		}
	};

	var ui = {
		showModal: function (title, children) {
			var overlay = document.getElementById('modal_overlay');
			if (!overlay) {
				overlay = E('div', { 'id': 'modal_overlay' }, E('div', { 'class': 'modal' }));
				document.body.appendChild(overlay);
			}
			var dlg = overlay.firstChild;
			dom.content(dlg, [ title ? E('h4', {}, title) : '', children ]);
			document.body.classList.add('modal-overlay-active');
			return dlg;
		},
		hideModal: function () {
			var overlay = document.getElementById('modal_overlay');
			if (overlay) overlay.parentNode.removeChild(overlay);
			document.body.classList.remove('modal-overlay-active');
		},
		addNotification: function (title, children, cls) {
			var n = E('div', { 'class': 'alert-message fade-in ' + (cls || '') }, [ title ? E('h4', {}, title) : '', children ]);
			document.getElementById('notifications').appendChild(n);
			return n;
		},
		/* ui.js createHandlerFn: the button is disabled (and spins) until the handler's promise settles */
		createHandlerFn: function (ctx, fn) {
			if (typeof fn === 'string') fn = ctx[fn];
			if (typeof fn !== 'function') return null;
			var extra = Array.prototype.slice.call(arguments, 2);
			return function (ev) {
				var t = ev.currentTarget;
				t.classList.add('spinning');
				t.disabled = true;
				Promise.resolve(fn.apply(ctx, extra.concat([ ev ]))).finally(function () {
					t.classList.remove('spinning');
					t.disabled = false;
				});
			};
		},
		changes: {
			/* the uci apply/confirm round trip of LuCI's header: recorded, then the page would reload */
			apply: function (checked) { window.__router.applied.push(checked ? 'checked' : 'unchecked'); }
		}
	};

	var poll = {
		add: function (fn, interval) {
			setTimeout(fn, 0);
			setInterval(fn, (interval || 5) * 1000);
			return true;
		}
	};

	/* luci.js view: the base class's handlers and footer */
	var viewBase = {
		load: function () { return Promise.resolve(); },
		render: function () { return E('div'); },
		handleSave: function () {
			var tasks = [];
			document.getElementById('maincontent').querySelectorAll('.cbi-map').forEach(function (map) {
				tasks.push(dom.callClassMethod(map, 'save'));
			});
			return Promise.all(tasks);
		},
		handleSaveApply: function (ev, mode) {
			return this.handleSave(ev).then(function () { ui.changes.apply(mode == '0'); });
		},
		handleReset: function () {
			var tasks = [];
			document.getElementById('maincontent').querySelectorAll('.cbi-map').forEach(function (map) {
				tasks.push(dom.callClassMethod(map, 'reset'));
			});
			return Promise.all(tasks);
		},
		addFooter: function () {
			var footer = E([]);
			if (this.handleSaveApply || this.handleSave || this.handleReset) {
				footer.appendChild(E('div', { 'class': 'cbi-page-actions' }, [
					this.handleSaveApply ? E('button', { 'class': 'cbi-button cbi-button-apply', 'click': ui.createHandlerFn(this, function (ev) { return this.handleSaveApply(ev, '0'); }) }, _('Save & Apply')) : '', ' ',
					this.handleSave ? E('button', { 'class': 'cbi-button cbi-button-save', 'click': ui.createHandlerFn(this, 'handleSave') }, _('Save')) : '', ' ',
					this.handleReset ? E('button', { 'class': 'cbi-button cbi-button-reset', 'click': ui.createHandlerFn(this, 'handleReset') }, _('Reset')) : ''
				]));
			}
			return footer;
		}
	};

	var view = {
		extend: function (proto) {
			var v = Object.create(viewBase);
			Object.keys(proto).forEach(function (k) { v[k] = proto[k]; });
			return v;
		}
	};

	window.__luci = { dom: dom, ui: ui, poll: poll, view: view, setTranslations: function (t) { translations = t || {}; } };

	/* luci.js's loader: the 'require' lines name the modules the view's body gets; the footer follows the view */
	window.loadView = function (source, tr) {
		translations = tr || {};
		var mods = { view: view, dom: dom, ui: ui, poll: poll, form: window.__luci.form, rpc: window.__luci.rpc, uci: window.__luci.uci };
		var names = [];
		source.replace(/^'require ([a-z]+)';$/mg, function (_m, n) { names.push(n); });
		var body = new Function(names.join(','), source);
		var v = body.apply(null, names.map(function (n) {
			if (!mods[n]) throw new Error('fake LuCI has no module ' + n);
			return mods[n];
		}));
		window.__view = v;
		var main = document.getElementById('maincontent');
		return Promise.resolve(v.load()).then(function (data) { return v.render(data); }).then(function (node) {
			main.appendChild(node);
			main.appendChild(v.addFooter());
		});
	};
})();
