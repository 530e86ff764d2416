"""The pages' words in Chinese and English; the language comes from ?lang= or the browser's Accept-Language."""

from __future__ import annotations

from typing import Final

TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Fundtrail",
        "donor_page": "Where your donations went",
        "donation": "Donation",
        "project": "Project",
        "amount": "Amount",
        "went_to": "Paid to",
        "refunded": "Refunded to you",
        "still_held": "Still held by the foundation",
        "no_donations": "No donations yet.",
        "project_page": "Project",
        "raised": "Raised",
        "paid_out": "Paid to hospitals, schools and suppliers",
        "returned": "Returned by payees",
        "held": "Held by the foundation",
        "refunded_to_donors": "Refunded to donors",
        "payee": "Payee",
        "paid_on": "Paid on",
        "donations": "Donations",
        "donors": "Donors",
        "audit_page": "Auditor",
        "latest_checkpoint": "Latest signed checkpoint",
        "no_checkpoint": "No checkpoint yet.",
        "verify_receipt": "Verify a receipt",
        "paste_receipt": "Paste a receipt (JSON)",
        "verify": "Verify",
        "login": "Sign in",
        "token": "Access token",
        "flow": "Flow of the money",
        "status": "Status",
        "custody_note": "The partner decides; the foundation pays payees directly; unused money returns to the "
        "foundation.",
    },
    "zh": {
        "title": "善款流向",
        "donor_page": "您的捐款去了哪里",
        "donation": "捐款",
        "project": "项目",
        "amount": "金额",
        "went_to": "支付给",
        "refunded": "已退还给您",
        "still_held": "仍由基金会托管",
        "no_donations": "暂无捐款。",
        "project_page": "项目",
        "raised": "筹款",
        "paid_out": "已支付给医院、学校和供应商",
        "returned": "收款方退回",
        "held": "基金会托管余额",
        "refunded_to_donors": "退还捐赠人",
        "payee": "收款方",
        "paid_on": "支付日期",
        "donations": "捐款笔数",
        "donors": "捐赠人数",
        "audit_page": "审计",
        "latest_checkpoint": "最新签名检查点",
        "no_checkpoint": "尚无检查点。",
        "verify_receipt": "验证收据",
        "paste_receipt": "粘贴收据（JSON）",
        "verify": "验证",
        "login": "登录",
        "token": "访问令牌",
        "flow": "资金流向",
        "status": "状态",
        "custody_note": "执行方决定用途；基金会直接支付给收款方；未使用的资金退回基金会（管用分离）。",
    },
}


def language(query: str | None, accept_language: str | None) -> str:
    if query in TEXTS:
        return str(query)
    return "zh" if (accept_language or "").lower().startswith("zh") else "en"
