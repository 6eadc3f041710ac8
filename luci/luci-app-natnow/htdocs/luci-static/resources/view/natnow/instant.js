'use strict';
'require view';
'require form';
'require rpc';
'require poll';
'require ui';
'require uci';
'require dom';

var callStatus = rpc.declare({ object: 'natnow', method: 'status' });
var callPlan = rpc.declare({ object: 'natnow', method: 'plan' });
var callApply = rpc.declare({ object: 'natnow', method: 'apply' });

function closeButton() {
	return E('div', { 'class': 'right' }, [
		E('button', { 'class': 'btn', 'click': ui.hideModal }, _('Close'))
	]);
}

function errorList(errors) {
	if (!errors || !errors.length)
		return '';
	return E('ul', { 'class': 'natnow-errors' }, errors.map(function(e) {
		return E('li', {}, e);
	}));
}

function counts(r) {
	if (!r.result)
		return _('nothing reset');
	return _('renewed %d, revoked %d').format(r.result.renewed, r.result.revoked);
}

function renderRuns(runs) {
	if (!runs.length)
		return E('p', { 'class': 'natnow-no-runs' }, _('No run recorded yet.'));

	return E('table', { 'class': 'table natnow-runs' }, [
		E('tr', { 'class': 'tr table-titles' }, [
			E('th', { 'class': 'th' }, _('Time')),
			E('th', { 'class': 'th' }, _('Trigger')),
			E('th', { 'class': 'th' }, _('Changes')),
			E('th', { 'class': 'th' }, _('Flows')),
			E('th', { 'class': 'th' }, _('Duration')),
			E('th', { 'class': 'th' }, _('Errors'))
		])
	].concat(runs.map(function(r) {
		// what a run could not read (libuci's parse error, ubusd gone) is shown with its errors
		var problems = r.errors.concat(r.warnings || []);
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td' }, new Date(r.time).toLocaleString()),
			E('td', { 'class': 'td' }, r.trigger),
			E('td', { 'class': 'td' }, r.changes.length ? r.changes.join('; ') : _('none')),
			E('td', { 'class': 'td' }, counts(r)),
			E('td', { 'class': 'td' }, _('%d ms').format(r.durationMs)),
			E('td', { 'class': 'td' }, problems.length ? problems.join('; ') : _('none'))
		]);
	})));
}

function backendHint(st) {
	if (st.available.kmod.ok)
		return _('The kernel module renews flows in the packet path, so even the first packet gets the new NAT.');
	if (st.available.conntrack.ok)
		return _('Install kmod-natnow to renew flows in the packet path instead of deleting their entries.');
	return _('Install conntrack (conntrack-tools) or kmod-natnow: without one of them natnow cannot reset any flow.');
}

function renderStatus(st) {
	if (!st)
		return E('div', { 'class': 'alert-message warning natnow-missing' },
			_('The natnow service does not answer: its rpcd plugin is missing. Install or reinstall the natnow package.'));

	var enabled = (st.enabled === null) ? _('unknown') : (st.enabled ? _('on') : _('off'));

	return E('div', { 'class': 'natnow-status' }, [
		E('p', {}, [ E('strong', {}, _('Switch')), ': ', enabled ]),
		E('p', {}, [ E('strong', {}, _('Backend')), ': ', st.backend || _('none'), ' (', st.reason, ')' ]),
		E('ul', {}, [ 'kmod', 'conntrack', 'procfs' ].map(function(b) {
			return E('li', {}, [ E('code', {}, b), ': ', st.available[b].ok ? _('available') : _('not available'), ' (', st.available[b].why, ')' ]);
		})),
		E('p', { 'class': 'cbi-value-description' }, backendHint(st)),
		E('h4', {}, _('Last runs')),
		renderRuns(st.runs)
	]);
}

function describePlan(p) {
	if (p.off)
		return E('p', {}, _('Instant NAT is switched off.'));
	if (!p.planned || !p.planned.length)
		return E('p', {}, _('No NAT change since the last run: nothing would be reset.'));
	return E('ul', { 'class': 'natnow-plan' }, p.planned.map(function(c) {
		return E('li', {}, [
			c.change,
			c.note ? E('em', {}, [ ' (', c.note, ')' ]) : '',
			E('ul', {}, c.selectors.map(function(s) {
				return E('li', {}, [ s.action == 'renew' ? _('Renew') : _('Revoke'), ': ', s.text ]);
			}))
		]);
	}));
}

return view.extend({
	load: function() {
		return Promise.all([
			callStatus().catch(function() { return null; }),
			uci.load('firewall'),
			uci.load('natnow')
		]);
	},

	handlePreview: function() {
		return callPlan().then(function(p) {
			ui.showModal(_('Preview'), [ describePlan(p), errorList(p.errors), closeButton() ]);
		}).catch(function(e) {
			ui.addNotification(null, E('p', {}, _('Preview failed: %s').format(e.message)));
		});
	},

	handleReset: function() {
		ui.showModal(_('Reset now'), [
			E('p', {}, _('Reset the connections that NAT changes since the last run concern? Never replied flows are renewed, flows of removed forwards are cut.')),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, _('Cancel')),
				' ',
				E('button', { 'class': 'btn cbi-button-action natnow-confirm', 'click': function() {
					return callApply().then(function(r) {
						var text = r.off ? _('Instant NAT is switched off.') : _('Done: %s in %d ms.').format(counts(r), r.durationMs);
						ui.showModal(_('Reset now'), [ E('p', { 'class': 'natnow-result' }, text), errorList(r.errors), closeButton() ]);
					}).catch(function(e) {
						ui.showModal(_('Reset now'), [ E('p', {}, _('Reset failed: %s').format(e.message)), closeButton() ]);
					});
				} }, _('Reset now'))
			])
		]);
	},

	render: function(data) {
		var status = data[0], m, s, o;
		var statusBox = E('div', { 'class': 'cbi-section' }, renderStatus(status));

		m = new form.Map('firewall', _('Instant NAT'),
			_('When a port forward, SNAT or masquerade rule is added, changed or removed, connections that already exist keep their old NAT. natnow resets exactly the connections a change concerns, after every firewall reload.'));
		s = m.section(form.NamedSection, 'natnow', 'include');
		o = s.option(form.Flag, 'enabled', _('Apply NAT changes to existing connections'),
			_('Switches natnow on or off (the include section natnow of the firewall configuration).'));
		o.default = '1';
		o.rmempty = false;

		var p = new form.Map('natnow', _('Policy'));
		s = p.section(form.NamedSection, 'main', 'natnow');

		o = s.option(form.Flag, 'renew', _('Renew'), _('Renew never replied connections under added or changed rules, so they get the new NAT.'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Flag, 'revoke', _('Revoke'), _('Cut connections still translated by a removed or changed rule.'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Flag, 'established', _('Established connections'), _('Also reset connections that have seen replies, under added rules.'));
		o.default = '0';
		o.rmempty = false;

		o = s.option(form.DynamicList, 'exclude', _('Excluded rules'), _('Port forwards and NAT rules, by name, that natnow leaves alone.'));
		uci.sections('firewall', 'redirect').concat(uci.sections('firewall', 'nat')).forEach(function(r) {
			if (r.name)
				o.value(r.name);
		});

		o = s.option(form.ListValue, 'backend', _('Backend'), _('How flows are reset. Automatic picks the kernel module, then conntrack-tools, then the procfs file.'));
		o.value('auto', _('Automatic'));
		o.value('kmod', _('Kernel module (kmod-natnow)'));
		o.value('conntrack', _('conntrack-tools'));
		o.value('procfs', _('procfs (by address)'));
		o.default = 'auto';

		o = s.option(form.Value, 'debounce', _('Debounce'), _('Seconds a burst of firewall reloads may last before natnow acts (0 to 60).'));
		o.datatype = 'range(0,60)';
		o.placeholder = '2';

		o = s.option(form.Value, 'kmod_ttl', _('Kernel module renew time'), _('Seconds the kernel module renews stale flows after a change; 0 means the longest unreplied timeout.'));
		o.datatype = 'uinteger';
		o.placeholder = '0';

		o = s.option(form.Flag, 'procfs_collateral', _('Allow deletes by address'), _('Let the procfs backend delete every connection of an address; other connections of that host are cut too.'));
		o.default = '0';
		o.rmempty = false;

		poll.add(function() {
			return callStatus().then(function(st) {
				dom.content(statusBox, renderStatus(st));
			}).catch(function() {
				dom.content(statusBox, renderStatus(null));
			});
		}, 5);

		return Promise.all([ m.render(), p.render() ]).then(function(maps) {
			return E('div', {}, [
				maps[0],
				E('div', { 'class': 'cbi-section' }, [
					E('h3', {}, _('Status')),
					statusBox,
					E('div', { 'class': 'right' }, [
						E('button', { 'class': 'btn cbi-button natnow-preview', 'click': ui.createHandlerFn(this, 'handlePreview') }, _('Preview')),
						' ',
						E('button', { 'class': 'btn cbi-button-action natnow-reset', 'click': ui.createHandlerFn(this, 'handleReset') }, _('Reset now'))
					])
				]),
				maps[1]
			]);
		}.bind(this));
	}
});
