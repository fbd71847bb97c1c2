// Saves a chart as a standalone SVG or PNG file for a paper or a slide: the chart's own SVG (drawn by the server) with
// the page's CSS written onto each element, its title above it and its legend (or caption) below it, on a white background.
const SVG_NS = 'http://www.w3.org/2000/svg';
const STYLED = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'opacity',
    'font-size', 'font-family', 'font-weight'];
const FONT = 'Roboto, Helvetica, Arial, sans-serif';

function element(name, attributes, text) {
    const e = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
}

// The SVG of the chart around `anchor` (an element inside a .studio-chart, or a heatmap's container).
function standalone(anchor) {
    const chart = anchor.closest('[data-chart-export]');
    const svg = chart.querySelector(':scope > svg'); // the chart's own (the header's icons are SVG too)
    const [, , width, height] = svg.getAttribute('viewBox').split(/\s+/).map(Number);
    const title = chart.querySelector('[data-chart-title]')?.textContent.trim() ?? '';
    const legend = [...chart.querySelectorAll('.studio-chart-legend > span')];
    const caption = chart.querySelector('[data-chart-caption]')?.textContent.trim() ?? ''; // a heatmap's colour scale

    const plot = svg.cloneNode(true);
    // The page's CSS, written onto each element, so that the file looks the same anywhere. What follows the theme's
    // text colour (labels, the teacher's line: currentColor) is written as the light theme's, dark on the white page,
    // also when the studio shows the dark theme.
    const pageColor = chart.style.color;
    chart.style.color = '#212121';
    const brushes = [];
    try {
        const originals = [svg, ...svg.querySelectorAll('*')];
        const copies = [plot, ...plot.querySelectorAll('*')];
        originals.forEach((original, i) => {
            const copy = copies[i];
            if (original.classList.contains('studio-chart-brush')) brushes.push(copy);
            const style = getComputedStyle(original);
            // Only what differs from the parent (these properties are inherited in SVG, but opacity).
            const parent = i === 0 ? null : getComputedStyle(original.parentElement);
            for (const property of STYLED) {
                const value = style.getPropertyValue(property);
                const inherited = property === 'opacity' ? '1' : parent?.getPropertyValue(property);
                if (value && value !== inherited && !copy.hasAttribute(property)) copy.setAttribute(property, property === 'font-family' ? FONT : value);
            }
            for (const name of copy.getAttributeNames())
                if (name === 'class' || name === 'style' || name.startsWith('_bl_')) copy.removeAttribute(name); // Blazor's own marks
        });
    } finally {
        chart.style.color = pageColor;
    }
    // Blazor's markers between elements.
    const comments = document.createTreeWalker(plot, NodeFilter.SHOW_COMMENT);
    const markers = [];
    while (comments.nextNode()) markers.push(comments.currentNode);
    markers.forEach(c => c.remove());
    brushes.forEach(b => b.remove()); // the zoom's drag rectangle

    const titleHeight = title ? 24 : 0;
    const rowHeight = 18;
    // The legend flows in rows across the chart's width, as on the page.
    const entries = [];
    let x = 8, y = 0;
    for (const span of legend) {
        const label = span.textContent.trim();
        const w = 20 + label.length * 6.5 + 16;
        if (x + w > width && x > 8) { x = 8; y += rowHeight; }
        entries.push({ span, label, x, y });
        x += w;
    }
    const legendHeight = legend.length ? y + rowHeight + 8 : 0;
    const captionHeight = caption ? rowHeight + 4 : 0;
    const total = titleHeight + height + legendHeight + captionHeight;

    const root = element('svg', { xmlns: SVG_NS, width, height: total, viewBox: `0 0 ${width} ${total}`, 'font-family': FONT });
    root.appendChild(element('rect', { x: 0, y: 0, width, height: total, fill: '#ffffff' }));
    if (title) root.appendChild(element('text', { x: 8, y: 17, 'font-size': 14, 'font-weight': 500, fill: '#212121' }, title));
    plot.setAttribute('x', 0);
    plot.setAttribute('y', titleHeight);
    plot.setAttribute('width', width);
    plot.setAttribute('height', height);
    root.appendChild(plot);
    // The swatches' colours read as the plot's were: what follows the text colour (a reference's dashed line, the
    // teacher's swatch) as the light theme's.
    chart.style.color = '#212121';
    const swatches = entries.map(({ span }) => {
        const swatch = span.querySelector('.studio-chart-swatch');
        if (!swatch) return null;
        const s = getComputedStyle(swatch);
        return { backgroundColor: s.backgroundColor, borderTopStyle: s.borderTopStyle, borderTopColor: s.borderTopColor, borderTopLeftRadius: s.borderTopLeftRadius };
    });
    chart.style.color = pageColor;
    for (const [i, { label, x, y }] of entries.entries()) {
        const top = titleHeight + height + 4 + y;
        const style = swatches[i];
        const background = style?.backgroundColor ?? '';
        if (style && style.borderTopStyle === 'dashed') {
            root.appendChild(element('line', { x1: x, x2: x + 12, y1: top + 7, y2: top + 7, stroke: style.borderTopColor, 'stroke-width': 2, 'stroke-dasharray': '4 3' }));
        } else if (background && background !== 'rgba(0, 0, 0, 0)' && background !== 'transparent') {
            const round = style.borderTopLeftRadius === '50%';
            root.appendChild(round
                ? element('circle', { cx: x + 5, cy: top + 7, r: 5, fill: background })
                : element('rect', { x, y: top + 2, width: 10, height: 10, rx: 2, fill: background }));
        }
        root.appendChild(element('text', { x: x + 16, y: top + 11, 'font-size': 12, fill: '#212121', 'data-legend': label }, label));
    }
    if (caption) root.appendChild(element('text', { x: 8, y: titleHeight + height + legendHeight + 14, 'font-size': 12, fill: '#616161' }, caption));
    return { text: '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(root), width, height: total };
}

function save(blob, fileName) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = fileName;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// format: 'svg', or 'png' (twice the chart's size, for print).
export async function exportChart(anchor, format, fileName) {
    const { text, width, height } = standalone(anchor);
    const svgBlob = new Blob([text], { type: 'image/svg+xml' });
    if (format === 'svg') { save(svgBlob, fileName); return; }
    const image = new Image();
    const url = URL.createObjectURL(svgBlob);
    try {
        image.src = url;
        await image.decode();
        const scale = 2;
        const canvas = document.createElement('canvas');
        canvas.width = width * scale;
        canvas.height = height * scale;
        const context = canvas.getContext('2d');
        context.scale(scale, scale);
        context.drawImage(image, 0, 0, width, height);
        const png = await new Promise(resolve => canvas.toBlob(resolve, 'image/png'));
        save(png, fileName);
    } finally {
        URL.revokeObjectURL(url);
    }
}
