"""Generate the built-in demo corpus: synthetic parliamentary written questions on 10 CAP topics.

Every text is written by the llmcoder project; nothing is copied from real parliamentary records.
The generator is seeded and deterministic: running it writes ``questions.csv`` byte for byte as it
is committed (``python data/demo/make_demo.py`` or ``--out PATH``).

How a question is made:

* 118 questions are written out in full by hand (``HANDWRITTEN``), among them the mixed ones: texts
  that touch two policy areas, whose gold label is the primary focus under CAP's coding rules and
  whose ``secondary`` column names the other topic;
* the rest combine, per topic, a bank of issues (each an aim, "reduce waiting times for ...", and a
  subject, "waiting times for ..."), named programmes, actors and factual follow-up sentences with
  generic openers and follow-ups, places and figures; a candidate whose word 5-grams overlap an
  accepted text too much is rejected, so there are no near-duplicates;
* party and year are drawn with mild topic-specific weights (Greens ask more about the environment,
  energy questions cluster in 2022-2023, and so on).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

SEED = 20240611
HERE = Path(__file__).resolve().parent
YEARS = list(range(2015, 2024))
PARTIES = ["Social Democrats", "Conservatives", "Liberals", "Greens", "Nationalists"]
TOPICS = ["macro", "health", "education", "environment", "energy",
          "immigration", "transport", "crime", "housing", "defence"]

#: Documents per topic, hand-written ones included (sum 880).
TARGETS = {"macro": 90, "health": 104, "education": 94, "environment": 91, "energy": 86,
           "immigration": 82, "transport": 84, "crime": 96, "housing": 88, "defence": 65}

#: Relative weight of each party asking about each topic (order as PARTIES).
PARTY_WEIGHTS = {
    "macro": [3, 3, 2.5, 1, 1.5],
    "health": [3.5, 2, 2, 1.2, 1.5],
    "education": [3, 2, 3, 1.2, 1],
    "environment": [1.5, 1, 2, 5, 1],
    "energy": [2, 2, 1.5, 3.5, 1.5],
    "immigration": [1.5, 3, 2, 1, 3.5],
    "transport": [2, 1.5, 2, 2.5, 2],
    "crime": [2, 3.5, 1.5, 0.8, 2],
    "housing": [3.5, 1.5, 2, 1.5, 1.5],
    "defence": [1.5, 3.5, 1.5, 0.6, 2.5],
}
#: Years in which a topic was asked about more often than usual (weight; the default is 1).
YEAR_BUMPS = {
    "macro": {2015: 1.3, 2020: 1.5, 2022: 1.8, 2023: 1.5},
    "health": {2020: 2.2, 2021: 2.0, 2022: 1.4},
    "education": {2020: 1.6, 2021: 1.4},
    "environment": {2019: 1.6, 2021: 1.8, 2023: 1.3},
    "energy": {2021: 1.3, 2022: 2.5, 2023: 2.0},
    "immigration": {2015: 1.8, 2016: 1.7, 2022: 1.3, 2023: 1.6},
    "transport": {2016: 1.3, 2019: 1.4},
    "crime": {2018: 1.5, 2019: 1.3},
    "housing": {2017: 1.5, 2023: 1.5},
    "defence": {2022: 2.2, 2023: 1.8},
}

# Fictional constituencies and towns.
PLACES = [
    "Ashford Vale", "Northmoor", "Kelsey Bridge", "Carrick West", "Dunmere", "Hollins Cross",
    "Eastwick and Fenby", "Brackenfield", "Oldcastle North", "Seaburn", "Whitmore Green",
    "Thornbury Moor", "Castlereach", "Glenmorven", "Abercarn Valley", "Stowe Marsh", "Redhill Park",
    "Kirkby Vale", "Southmere", "Westcombe", "Harwood and Tilsey", "Ravensholme", "Ellesford",
    "Barrowfield", "Inverclune", "Lowther Fen", "Maddox End", "Nethercote", "Pendle Heath",
    "Quarrington", "Ullesby", "Wyvern Cross", "Yarrowdale", "Coldharbour", "Fairlie Sands",
    "Greystone", "Marlow Heath", "Langbrook", "Tollerton Downs", "Bishops Ferry",
]

# --- topic banks --------------------------------------------------------------------------------
# An issue is "aim verb | subject noun phrase"; aim = the whole string without the bar, subject =
# the part after it. A leading "*" marks issues that read naturally with "in <place>".

ISSUES: dict[str, list[str]] = {
    "health": [
        "*reduce | waiting times for hip and knee replacements",
        "*cut | the backlog of routine operations",
        "*improve | ambulance response times for category two calls",
        "*increase | the number of same-day GP appointments",
        "*address | the shortage of district nurses",
        "*tackle | delays in handing over patients from ambulances to emergency departments",
        "improve | access to NHS dentistry for children",
        "*expand | community mental health services for young people",
        "reduce | waiting lists for autism and ADHD assessments",
        "improve | early diagnosis rates for bowel cancer",
        "*increase | capacity in intensive care units",
        "guarantee | safe staffing levels in maternity units",
        "reduce | the cost of prescriptions for people with long-term conditions",
        "*expand | the provision of hospice and palliative care",
        "improve | uptake of the childhood measles vaccination",
        "tackle | rising rates of childhood obesity",
        "reform | the funding of adult social care",
        "*reduce | delayed discharges from hospital to social care",
        "increase | the number of training places for junior doctors",
        "address | the shortage of specialist cancer radiographers",
        "*repair | the crumbling estate of older hospitals",
        "restrict | the sale of disposable vapes to children",
        "reduce | smoking rates among pregnant women",
        "improve | access to treatment for eating disorders",
        "secure | the supply of hormone replacement therapy",
        "prevent | shortages of commonly prescribed medicines",
        "*expand | breast cancer screening in deprived areas",
        "strengthen | the regulation of cosmetic surgery clinics",
        "improve | outcomes for patients with sickle cell disease",
        "*halt | the closure of community pharmacies",
        "reduce | spending on agency staff in NHS trusts",
        "raise | dementia diagnosis rates",
        "increase | funding for research into rare diseases",
        "clarify | the role of physician associates in general practice",
        "*reduce | waiting times for MRI and CT scans",
        "*improve | stroke rehabilitation services",
        "narrow | health inequalities between the richest and poorest areas",
        "protect | NHS staff from violence and abuse at work",
        "widen | access to IVF treatment",
        "*reverse | the downgrading of the minor injuries unit",
        "widen | eligibility for the NHS health check",
        "*increase | the capacity of sexual health clinics",
        "speed up | the approval of new cancer drugs",
        "address | burnout among hospital consultants",
        "reduce | suicide rates among middle-aged men",
        "improve | care for patients with chronic kidney disease",
    ],
    "macro": [
        "bring down | the rate of inflation",
        "reduce | public sector net debt as a share of GDP",
        "mitigate | the impact of higher interest rates on small businesses",
        "raise | the personal allowance for income tax",
        "review | the threshold for the higher rate of income tax",
        "reduce | the complexity of the tax code",
        "reform | business rates for high street retailers",
        "close | loopholes used for corporate tax avoidance",
        "reduce | the size of the tax gap",
        "narrow | the productivity gap between regions",
        "*reduce | unemployment among young people",
        "address | the rise in long-term economic inactivity",
        "ease | the rising cost of living for households",
        "revise | the Government's fiscal rules",
        "strengthen | the role of the Office for Budget Responsibility in scrutinising budgets",
        "*increase | levels of private investment in former industrial towns",
        "reduce | the cost of servicing government debt",
        "review | the remit of the Bank of England's Monetary Policy Committee",
        "reform | the rules on inheritance tax",
        "freeze | the level of fuel duty",
        "raise | the national minimum wage",
        "cut | the rate of VAT charged on household goods",
        "increase | the size of the Treasury's contingency reserve",
        "improve | the accuracy of official economic forecasts",
        "reform | the operation of the Barnett formula",
        "publish | the distributional impact of the Budget",
        "reduce | the size of the budget deficit",
        "stimulate | growth in the services sector",
        "narrow | regional differences in average earnings",
        "protect | the value of household savings",
        "improve | the fairness of council tax bands",
        "expand | the research and development tax credit",
        "limit | the use of private finance initiative contracts",
        "set out | the timetable for the next spending review",
        "reduce | the level of unpaid tax debt",
        "simplify | the tax treatment of the self-employed",
        "*reduce | unemployment in coastal towns",
        "raise | the threshold for VAT registration",
        "offset | the effect of interest rate rises on household finances",
        "secure | the long-term sustainability of the public finances",
        "increase | the progressivity of the tax system",
        "introduce | a windfall tax on excess corporate profits",
        "*tackle | high rates of economic inactivity",
        "reduce | the burden of employers' national insurance contributions",
    ],
    "education": [
        "*address | the shortage of maths and physics teachers",
        "*reduce | class sizes in primary schools",
        "improve | provision for pupils with special educational needs",
        "clear | the backlog of education, health and care plans",
        "*tackle | persistent absence from school",
        "reform | the school inspection framework",
        "*improve | the condition of school buildings",
        "increase | teachers' starting salaries",
        "support | the recruitment of early years practitioners",
        "reduce | the level of university tuition fees",
        "*protect | funding for further education colleges",
        "increase | the take-up of technical qualifications in sixth forms",
        "raise | literacy standards at the end of primary school",
        "reform | the assessment of GCSEs and A levels",
        "tackle | grade inflation at universities",
        "secure | the financial sustainability of universities",
        "increase | the take-up of modern foreign languages",
        "reduce | teacher workload",
        "*secure | the future of small rural primary schools",
        "widen | access to music and arts education in state schools",
        "reduce | the rate of permanent exclusions from school",
        "improve | careers advice in secondary schools",
        "widen | participation in higher education by students from disadvantaged backgrounds",
        "review | the student loan repayment threshold",
        "*increase | the supply of secondary school places",
        "tighten | the regulation of unregistered schools",
        "improve | the teaching of early reading",
        "strengthen | support for home-educated children",
        "update | the relationships and sex education curriculum",
        "*address | the shortage of teaching assistants",
        "protect | academic freedom on university campuses",
        "improve | the governance of multi-academy trusts",
        "narrow | the attainment gap between disadvantaged pupils and their peers",
        "expand | the teaching of computing and digital skills",
        "tackle | bullying in schools",
        "reform | the national funding formula for schools",
        "fund | the professional development of teachers",
        "reduce | the cost of school uniforms",
        "protect | the time allocated to physical education",
        "raise | standards in sixth-form colleges",
        "*prevent | the closure of adult education centres",
        "improve | the quality of initial teacher training",
    ],
    "environment": [
        "reduce | sewage discharges into rivers and coastal waters",
        "*improve | air quality in town centres",
        "tackle | plastic pollution in the oceans",
        "increase | the rate of tree planting",
        "accelerate | the restoration of upland peatlands",
        "accelerate | progress towards the net zero target",
        "*tackle | fly-tipping in rural areas",
        "speed up | the introduction of a deposit return scheme for drinks containers",
        "*improve | household recycling rates",
        "restrict | the use of neonicotinoid pesticides",
        "*strengthen | flood defences for coastal communities",
        "protect | the habitats of endangered species",
        "expand | the designation of inland bathing waters",
        "reduce | levels of food waste",
        "tighten | enforcement of the ban on single-use plastics",
        "address | microplastic contamination of drinking water",
        "improve | the management of marine protected areas",
        "cut | methane emissions from agriculture",
        "*clean up | contaminated land on former industrial sites",
        "protect | the water quality of chalk streams",
        "strengthen | the enforcement powers of the Environment Agency against water companies",
        "fund | the restoration of ancient and native woodland",
        "end | the export of plastic waste to developing countries",
        "*reduce | litter on beaches and in parks",
        "meet | the legally binding biodiversity targets",
        "control | the spread of invasive non-native species",
        "support | the reintroduction of beavers to the wild",
        "reduce | the environmental impact of fast fashion",
        "introduce | extended producer responsibility for packaging",
        "strengthen | the national climate change adaptation programme",
        "improve | the legal protection of hedgerows",
        "reduce | the carbon footprint of government buildings",
        "*prevent | algal blooms in lakes and reservoirs",
        "improve | the monitoring of storm overflows",
        "reduce | air pollution from wood-burning stoves",
        "protect | the health of agricultural soils",
        "*improve | the condition of sites of special scientific interest",
        "reverse | the decline in farmland bird populations",
        "increase | the country's contribution to international climate finance",
        "guarantee | the independence of the Office for Environmental Protection",
        "*reduce | the number of illegal waste sites",
        "curb | light pollution in national parks",
    ],
    "energy": [
        "reduce | household energy bills",
        "relax | planning rules for onshore wind farms",
        "speed up | the construction of new nuclear power stations",
        "*reduce | the number of households in fuel poverty",
        "improve | the security of gas supplies this winter",
        "lower | the level of the energy price cap",
        "*cut | delays in connecting renewable projects to the electricity grid",
        "accelerate | the expansion of offshore wind capacity",
        "support | the development of small modular reactors",
        "end | the forced installation of prepayment meters",
        "reduce | energy costs faced by energy-intensive industries",
        "scale up | low-carbon hydrogen production",
        "increase | investment in grid-scale battery storage",
        "maintain | the moratorium on shale gas extraction",
        "review | the licensing of new oil and gas fields in the North Sea",
        "improve | the protection of customers when energy suppliers fail",
        "complete | the roll-out of smart meters",
        "*increase | the take-up of heat pumps",
        "reform | the wholesale electricity market",
        "expand | support for community-owned energy schemes",
        "fund | carbon capture and storage clusters",
        "*encourage | the installation of solar panels on commercial rooftops",
        "complete | the phase-out of coal-fired power stations",
        "reduce | standing charges on energy bills",
        "improve | the performance of Ofgem as regulator",
        "assess | the potential of tidal lagoon power",
        "control | the cost of decommissioning nuclear sites",
        "*reduce | the frequency of power cuts in rural areas",
        "lower | the carbon intensity of the electricity grid",
        "increase | support for households that rely on heating oil",
        "clarify | the planned phase-out of new gas boilers",
        "build | new electricity interconnectors with neighbouring countries",
        "review | subsidies for biomass power generation",
        "examine | proposals for a publicly owned energy company",
        "extend | the winter fuel support scheme for vulnerable customers",
        "*improve | the energy efficiency of the existing housing stock",
        "cut | energy use in public buildings",
        "support | the development of deep geothermal energy",
        "reduce | the country's reliance on imported liquefied natural gas",
        "increase | the level of oil stocks held for emergencies",
        "improve | the accuracy of estimated energy bills",
        "protect | the electricity network from extreme weather",
    ],
    "immigration": [
        "clear | the backlog of asylum claims",
        "reduce | the number of small boat crossings in the Channel",
        "reform | the points-based immigration system",
        "reduce | the level of net migration",
        "*end | the use of hotels to accommodate asylum seekers",
        "shorten | processing times for family visas",
        "review | the minimum income requirement for spouse visas",
        "speed up | payments under the Windrush compensation scheme",
        "protect | the rights of people granted status under the EU settlement scheme",
        "expand | safe and legal routes for refugees",
        "review | the health and care worker visa",
        "increase | the number of removals of failed asylum seekers",
        "*improve | conditions in immigration detention centres",
        "reduce | the level of immigration and visa fees",
        "restore | the right of asylum seekers to work while their claims are decided",
        "tackle | illegal working in the hospitality sector",
        "reform | the seasonal worker visa scheme",
        "improve | the care of unaccompanied asylum-seeking children",
        "improve | the quality of initial asylum decisions",
        "review | the graduate visa route",
        "*increase | support for councils receiving refugee families",
        "reduce | the number of people who overstay their visas",
        "reduce | the cost and complexity of citizenship applications",
        "review | the no recourse to public funds condition",
        "expand | English language provision for newly arrived refugees",
        "negotiate | returns agreements with safe third countries",
        "*increase | staffing levels at border control at regional airports",
        "delay | the introduction of electronic travel authorisations",
        "disrupt | the activities of people-smuggling gangs",
        "review | the shortage occupation list",
        "improve | the performance of asylum accommodation contracts",
        "end | the use of former military sites as asylum accommodation",
        "simplify | the British National (Overseas) visa route",
        "raise | the salary threshold for skilled worker visas",
        "expand | the youth mobility scheme",
        "improve | the accuracy of the published migration statistics",
        "tackle | sham marriages used to obtain residence",
        "reduce | the backlog at the immigration and asylum tribunal",
        "speed up | the Afghan relocations and assistance policy",
        "strengthen | checks on sponsors of migrant workers",
    ],
    "transport": [
        "*reduce | cancellations on commuter rail services",
        "*reduce | the number of potholes on local roads",
        "*reverse | cuts to rural bus services",
        "freeze | the level of regulated rail fares",
        "control | the cost of the high-speed rail project",
        "*increase | the number of public charging points for electric vehicles",
        "*improve | road safety outside schools",
        "reduce | waiting times for practical driving tests",
        "*reduce | congestion on the main trunk road",
        "clarify | the legal status of privately owned e-scooters",
        "*increase | investment in cycling and walking routes",
        "*provide | step-free access at railway stations",
        "complete | the reform of rail franchising",
        "secure | the future of regional airports",
        "address | the shortage of HGV drivers",
        "reduce | delays for freight traffic at ferry ports",
        "review | plans for a third runway at the capital's main airport",
        "improve | the safety of smart motorways",
        "reduce | emissions from domestic flights",
        "extend | the national cap on single bus fares",
        "accelerate | the electrification of the northern rail network",
        "*support | the reopening of closed branch lines",
        "reform | the licensing of taxis and private hire vehicles",
        "improve | the accessibility of public transport for disabled passengers",
        "restrict | the use of drones near airports",
        "limit | the impact of industrial action on the railways",
        "*improve | the condition of local road bridges",
        "clear | delays in processing driving licence applications",
        "lower | the eligibility age for concessionary bus passes",
        "raise | safety standards for passenger ferries",
        "consult on | proposals for national road pricing",
        "*reduce | fatal collisions on rural roads",
        "improve | the coordination of utility roadworks",
        "push ahead with | the simplification of rail ticketing",
        "*tackle | overcrowding on peak-time trains",
        "*increase | investment in light rail and tram networks",
        "tighten | the enforcement of weight limits for lorries on village roads",
        "accelerate | the roll-out of zero-emission buses",
        "expand | rail freight capacity",
        "review | the motorway speed limit",
        "reduce | the maintenance backlog on the rail network",
    ],
    "crime": [
        "*increase | the number of neighbourhood police officers",
        "reduce | knife crime among young people",
        "tackle | violence against women and girls",
        "reduce | the backlog of cases in the Crown Court",
        "*address | overcrowding in prisons",
        "improve | the charge rate for rape offences",
        "*tackle | county lines drug dealing",
        "reduce | reoffending rates among prisoners released on licence",
        "*reverse | the rise in shoplifting",
        "*tackle | antisocial behaviour in town centres",
        "tackle | the rise in online fraud",
        "review | the use of stop and search powers",
        "improve | the support available to victims of crime",
        "*improve | police response times to burglaries",
        "increase | sentences for causing death by dangerous driving",
        "reduce | assaults on shop workers",
        "improve | staffing in the probation service",
        "increase | the prosecution of modern slavery offences",
        "reduce | the number of children held in young offender institutions",
        "protect | the availability of criminal legal aid",
        "extend | the use of domestic abuse protection orders",
        "tighten | the firearms licensing regime",
        "cut off | the supply of drugs into prisons",
        "*tackle | the theft of farm machinery",
        "reduce | the number of prisoners held on remand",
        "improve | the investigation of child sexual exploitation",
        "strengthen | police vetting procedures",
        "improve | the enforcement of stalking protection orders",
        "improve | the handling of miscarriages of justice",
        "tackle | keyless car theft",
        "reduce | the proportion of crimes that are never solved",
        "respond to | the rise in recorded hate crime",
        "halt | the closure of magistrates' courts",
        "strengthen | the enforcement of dangerous dog laws",
        "review | the effectiveness of short prison sentences",
        "improve | the collection of criminal fines and compensation orders",
        "regulate | the use of live facial recognition by police forces",
        "increase | the recovery of criminal assets",
        "ban | the sale of zombie knives",
        "improve | the retention of experienced police officers",
        "*tackle | metal theft from churches and railways",
        "reduce | the time taken to process forensic evidence",
    ],
    "housing": [
        "*increase | the supply of social rented homes",
        "complete | the abolition of no-fault evictions",
        "*end | rough sleeping",
        "reduce | the number of families in temporary accommodation",
        "speed up | the removal of unsafe cladding from high-rise blocks",
        "improve | the prospects of first-time buyers",
        "complete | the reform of leasehold and ground rents",
        "improve | conditions in the private rented sector",
        "*tackle | damp and mould in social housing",
        "*reduce | the number of long-term empty homes",
        "increase | the speed of the planning system for new housing",
        "*control | the growth of short-term holiday lets",
        "raise | the level of the local housing allowance",
        "limit | building on the green belt",
        "reform | the right to buy scheme",
        "increase | the supply of specialist housing for older people",
        "strengthen | the rights of park home residents",
        "step up | enforcement against rogue landlords",
        "expand | support for community land trusts",
        "*address | the shortage of affordable homes in rural villages",
        "strengthen | the powers of the Housing Ombudsman",
        "cap | rising service charges for leaseholders",
        "*reduce | overcrowding in council housing",
        "lower | the ratio of house prices to earnings",
        "take forward | plans for a new generation of new towns",
        "improve | the governance of housing associations",
        "increase | the number of self-build and custom-build homes",
        "prevent | homelessness among young people leaving care",
        "raise | accessibility standards for new-build homes",
        "*prioritise | the redevelopment of brownfield land for housing",
        "review | the help to buy equity loan scheme",
        "limit | the level of rent increases in the private sector",
        "tackle | build quality defects in new homes",
        "increase | affordable housing contributions from developers",
        "meet | the national target for new homes each year",
        "*clear | the backlog of repairs to council homes",
        "reduce | the number of tenants facing eviction for rent arrears",
        "stop | landlords refusing tenants who receive benefits",
        "*address | the concentration of second homes in coastal villages",
        "establish | a national register of private landlords",
        "improve | fire safety in purpose-built blocks of flats",
    ],
    "defence": [
        "maintain | the size of the regular army",
        "raise | defence spending as a share of national income",
        "deliver | the programme to renew the nuclear deterrent",
        "improve | the condition of service family accommodation",
        "strengthen | support for veterans leaving the armed forces",
        "improve | recruitment to the armed forces",
        "end | delays in the procurement of new frigates",
        "increase | military support to allies in eastern Europe",
        "*protect | defence shipbuilding jobs",
        "improve | the armed forces pay award",
        "improve | mental health care for veterans",
        "expand | the armed forces' cyber capabilities",
        "improve | the readiness of the reserve forces",
        "*reverse | the closure of military bases",
        "honour | the country's commitments to NATO",
        "speed up | the delivery of new combat aircraft",
        "tackle | sexual harassment in the armed forces",
        "fund | the implementation of the armed forces covenant",
        "develop | military space capabilities",
        "increase | the number of operational warships",
        "rescue | the troubled armoured vehicle programme",
        "replenish | stockpiles of munitions",
        "improve | the efficiency of defence procurement",
        "increase | support for service families during deployments",
        "expand | training exercises for the armed forces",
        "grant | recognition for nuclear test veterans",
        "reform | the service justice system",
        "expand | the capacity of defence medical services",
        "review | the deployment of troops on peacekeeping missions",
        "strengthen | the country's air and missile defence",
        "improve | pensions for Gurkha veterans",
        "*support | the expansion of cadet forces in state schools",
        "improve | the retention of military pilots",
        "implement | the conclusions of the integrated defence review",
        "increase | investment in uncrewed military systems",
        "protect | the resilience of the defence industrial base",
        "improve | the performance of the Defence Infrastructure Organisation",
        "tighten | the security of military bases",
        "complete | the restoration of medals to veterans dismissed because of their sexuality",
        "protect | undersea cables and pipelines",
    ],
}

PROGRAMMES: dict[str, list[str]] = {
    "health": ["Community Diagnostic Centres programme", "Elective Recovery Fund",
               "GP Access Improvement Scheme", "National Cancer Screening Initiative",
               "Hospital Rebuilding Programme"],
    "macro": ["Regional Growth Fund", "Small Business Rate Relief scheme", "Enterprise Zones programme",
              "Cost of Living Support Package", "National Productivity Investment Fund"],
    "education": ["National Tutoring Programme", "School Rebuilding Programme",
                  "Teacher Retention Bonus scheme", "Opportunity Areas programme",
                  "Holiday Activities and Food programme"],
    "environment": ["Nature Recovery Fund", "Storm Overflows Reduction Plan", "Woodland Creation Offer",
                    "Clean Air Zones programme", "Landscape Recovery scheme"],
    "energy": ["Warm Homes Grant", "Boiler Upgrade Scheme", "Energy Bills Support Scheme",
               "Contracts for Difference auction", "Nuclear Renewal Programme"],
    "immigration": ["Refugee Resettlement Scheme", "Asylum Backlog Clearance Plan", "Skilled Worker route",
                    "Community Sponsorship scheme", "Family Reunion route"],
    "transport": ["Bus Service Improvement Plan", "Restoring Your Railway fund",
                  "Local Roads Maintenance Fund", "Access for All programme", "Active Travel Fund"],
    "crime": ["Safer Streets Fund", "Violence Reduction Units programme", "Police Uplift Programme",
              "Victims' Support Fund", "Prison Estate Expansion Programme"],
    "housing": ["Affordable Homes Programme", "Building Safety Fund", "Rough Sleeping Initiative",
                "Help to Buy scheme", "Social Housing Decarbonisation Fund"],
    "defence": ["Future Frigate Programme", "Armed Forces Covenant Fund", "Veterans' Pathway programme",
                "Army Reserves Expansion Plan", "Future Combat Air programme"],
}

ACTORS: dict[str, list[str]] = {
    "health": ["NHS trust chief executives", "the Royal College of Nursing", "integrated care boards",
               "patient groups"],
    "macro": ["the Governor of the Bank of England", "the Office for Budget Responsibility",
              "business organisations", "the Institute for Fiscal Studies"],
    "education": ["headteachers' unions", "university vice-chancellors", "Ofsted",
                  "parents' groups"],
    "environment": ["the Environment Agency", "water company chief executives",
                    "wildlife trusts", "farmers' representatives"],
    "energy": ["Ofgem", "energy suppliers", "the National Grid", "consumer groups"],
    "immigration": ["the independent chief inspector of borders", "refugee charities",
                    "the Migration Advisory Committee", "employers' organisations"],
    "transport": ["train operating companies", "bus operators", "the rail regulator",
                  "the Road Haulage Association"],
    "crime": ["chief constables", "police and crime commissioners", "the Crown Prosecution Service",
              "victims' groups"],
    "housing": ["housing associations", "tenants' groups", "housebuilders",
                "the Local Government Association"],
    "defence": ["the Chief of the Defence Staff", "defence contractors", "veterans' charities",
                "NATO allies"],
}
GENERIC_ACTORS = ["the Treasury", "local authorities", "the devolved administrations",
                  "trade unions", "colleagues across Government"]

# Factual sentences. "kw1,kw2::text" restricts a fact to issues whose aim contains one of the
# keywords (case-insensitive); facts without "::" fit any issue of the topic.
FACTS: dict[str, list[str]] = {
    "health": [
        "waiting,backlog,operation,hip and knee,scan::In {place}, {pct} per cent of patients now wait "
        "more than eighteen weeks for treatment.",
        "hip and knee,routine operations,backlog::Figures for {py} show that more than {num} patients waited "
        "over a year for planned surgery.",
        "nurse,staff,agency,burnout,maternity,radiographer,doctor::The local hospital trust reports "
        "{n2w} hundred vacant clinical posts.",
        "GP,physician,pharmac,dentistry::My constituents in {place} routinely wait more than "
        "{n2w} weeks for an appointment.",
        "Health leaders warn that the {prog} has not reached the areas of greatest need.",
        "Only {pct} per cent of the additional {money} announced in {py} has reached frontline "
        "services.",
        "Patients in {place} are being asked to travel more than forty miles for treatment.",
        "ambulance,emergency,handing over::One elderly constituent in {place} waited {n2w} hours "
        "for an ambulance last month.",
        "ambulance,emergency,discharge,intensive,minor injuries::Clinicians have described the "
        "pressure on emergency departments as the worst they have seen.",
        "cancer,screening,diagnos,kidney,sickle,stroke::Survival rates here lag well behind those "
        "of comparable countries.",
        "mental health,eating disorder,autism,suicide::Families in {place} tell me their children "
        "have been turned away until they reach crisis point.",
        "vaccination,obesity,smoking,vapes,inequalities,health check::Public health budgets have "
        "fallen in real terms over the past decade.",
    ],
    "macro": [
        "inflation,cost of living,savings,interest,VAT,wage,fuel duty::Inflation reached "
        "{pct_small} per cent in {py}, the highest rate for a generation.",
        "growth,productivity,forecast,investment,debt,deficit,fiscal::The Office for Budget "
        "Responsibility has cut its growth forecast for {y} twice.",
        "debt,deficit,fiscal,borrowing,public finances,contingency,spending review,Barnett::Debt "
        "interest payments are forecast to exceed {money} this year.",
        "business,VAT,small,services sector,self-employed,national insurance::Small businesses in "
        "{place} tell me their margins have been squeezed to almost nothing.",
        "tax,allowance,VAT,duty,credit,rates,windfall,national insurance,wage::Independent "
        "economists estimate that the measure would cost {money} a year.",
        "wage,earnings,cost of living,inflation::Real wages in {py} remained below their level of "
        "fifteen years earlier.",
        "unemployment,inactivity,investment,coastal::Unemployment in {place} stands at "
        "{pct_small} per cent, well above the national average.",
        "business,investment,growth,productivity,interest::Business confidence surveys have fallen "
        "for {n2w} consecutive quarters.",
        "tax,Budget,distributional,progressiv,council tax,VAT::The Treasury's own analysis shows "
        "that the poorest tenth of households would lose most.",
        "The {prog} was supposed to address exactly this problem.",
    ],
    "education": [
        "teacher,maths,languages,recruitment,computing::In {place}, {pct} per cent of secondary "
        "schools report a vacancy in a core subject.",
        "funding,teaching assistants,formula,school buildings,class sizes,special educational::"
        "Headteachers in {place} tell me they are cutting support staff to balance their budgets.",
        "absence,exclusion::More than {num} pupils were persistently absent from school in {py}.",
        "attainment,disadvantaged,literacy,reading,tutoring::The attainment gap widened again in "
        "{py}, according to the Department's own figures.",
        "special educational,education, health and care::Parents in {place} have waited more than "
        "{weeks} weeks for an assessment of their child's needs.",
        "attainment,disadvantaged,literacy,reading,careers,participation::The National Tutoring "
        "Programme was meant to close this gap, but take-up has been low.",
        "universit,tuition,student loan,academic,higher education::Vice-chancellors warn that "
        "{n2w} universities expect to run a deficit next year.",
        "inspection,standards,governance,academy,sixth-form,training::Inspectors have rated "
        "{pct} per cent of local schools as requiring improvement.",
        "Teachers in {place} describe the current arrangements as unsustainable.",
    ],
    "environment": [
        "sewage,storm overflow,water companies,chalk,bathing,algal,Environment Agency::Water "
        "companies discharged untreated sewage more than {num} times in {py}.",
        "river,sewage,chalk,water,algal,bathing::The river in {place} has failed its water quality "
        "tests for {n2w} consecutive years.",
        "net zero,carbon,climate,methane,emissions,peatland,tree::The Climate Change Committee has "
        "warned that the country is off track.",
        "Only {pct} per cent of the {prog} budget has been spent.",
        "litter,plastic,waste,fly-tipping,recycling,packaging,fashion::Volunteers in {place} "
        "removed {n2w} tonnes of rubbish from a single beach last summer.",
        "enforcement,Environment Agency,illegal,water companies,Office for Environmental::The "
        "regulator's budget for enforcement has fallen in real terms over the past decade.",
        "species,biodiversity,bird,habitat,hedgerow,pesticide,beaver,woodland,scientific interest,"
        "invasive,marine,soils::The local wildlife trust reports a marked decline in species across "
        "{place}.",
        "air quality,air pollution,wood-burning::Pollution levels in {place} exceeded legal limits "
        "on {n2w} occasions last year.",
        "flood,adaptation,coastal::Homes in {place} have flooded {n2w} times in the past decade.",
    ],
    "energy": [
        "bill,price cap,standing charge,fuel poverty,prepayment,winter fuel,households::The "
        "typical household energy bill rose to more than £{bill} a year in {py}.",
        "fuel poverty,households,efficiency,heating oil,heat pump,winter fuel::In {place}, {pct} "
        "per cent of households are now in fuel poverty.",
        "grid,wind,solar,renewable,battery,interconnector,network::Some {num} projects are waiting "
        "for a connection to the grid.",
        "supplier,prepayment,smart meter,Ofgem,estimated,standing::The regulator received {num} "
        "complaints about energy suppliers last year.",
        "households,heat pump,efficiency,boiler,heating,solar::The Warm Homes Grant has so far "
        "supported far fewer households than promised.",
        "nuclear,hydrogen,carbon capture,offshore,tidal,geothermal,reactor,industries,"
        "interconnector,battery,wholesale,publicly owned::Industry groups say investment will go "
        "elsewhere without a clear long-term framework.",
        "bill,fuel poverty,price cap,heating oil,winter fuel,standing::Older residents in {place} "
        "tell me they are choosing between heating and eating.",
        "gas,wholesale,price cap,liquefied,security,oil stocks::Wholesale gas prices have been "
        "extremely volatile since {py}.",
        "power cuts,weather,network,security::Some households in {place} were without power for "
        "{n2w} days after the last storm.",
    ],
    "immigration": [
        "asylum,Afghan::More than {num} people were waiting for an initial asylum decision at the "
        "end of {py}.",
        "net migration,points-based,skilled,graduate,shortage occupation,youth mobility,statistics,"
        "salary threshold::Official estimates put net migration at more than {num_big} in {py}.",
        "worker,skilled,shortage,seasonal,points-based,salary,sponsor,illegal working::Employers "
        "in {place} report that they cannot fill vacancies under the current rules.",
        "The {prog} has been criticised by the independent chief inspector of borders.",
        "family,spouse,citizenship,visa fees,British National,Windrush,settlement::Some "
        "applicants in {place} have waited {weeks} weeks for a decision.",
        "hotel,accommodation,military sites::The cost of asylum accommodation has risen to "
        "{money} a year.",
        "hotel,accommodation,councils,military sites,refugee::Councils in {place} say they were "
        "given less than a day's notice.",
        "decision,tribunal,appeal,asylum claims::A quarter of refusals were overturned on appeal "
        "last year.",
        "small boat,smuggling,removals,returns,border,overstay,detention::The number of people "
        "crossing irregularly has risen sharply since {py}.",
    ],
    "transport": [
        "rail,train,franchising,ticketing,electrification::In {py}, {pct} per cent of trains on "
        "this route arrived late or were cancelled.",
        "pothole,bridges,roadworks,trunk road,weight limits::The local council estimates that its "
        "road repair backlog has reached {money}.",
        "bus::Passengers in {place} now have no bus service after six in the evening.",
        "The {prog} has so far delivered only a fraction of what was promised.",
        "freight,ferry,HGV,lorries,ports::Hauliers warn that queues on the approach roads are "
        "costing them {money} a year.",
        "step-free,accessibility,disabled::Disabled passengers in {place} are unable to use their "
        "nearest station.",
        "rail,train,branch lines,station::The last train from the city to {place} now leaves "
        "before ten o'clock.",
        "rail,train,industrial action,commuter,congestion::Commuters in {place} have lost count of "
        "the journeys disrupted this year.",
        "safety,collisions,speed limit,smart motorways,e-scooters,driving::Road safety campaigners "
        "in {place} have recorded {n2w} serious collisions this year.",
        "airport,flights,aviation,drones::Airlines have cut {n2w} routes from the regional airport "
        "serving {place}.",
    ],
    "crime": [
        "crime,theft,shoplifting,antisocial,knife,fraud,burglar,county lines::Recorded offences "
        "in {place} rose by {pct} per cent in {py}.",
        "burglar,solved,charge rate,neighbourhood police,forensic::Only {pct_small} per cent of "
        "reported burglaries led to a charge in {py}.",
        "court,legal aid,remand,trial,Crown,miscarriage,forensic::More than {num} cases were "
        "waiting to be heard in the Crown Court at the end of {py}.",
        "police,antisocial,shoplifting,theft,burglar::Residents in {place} tell me they no longer "
        "bother reporting crimes to the police.",
        "prison,remand,sentence,reoffending,young offender,probation::The prison population is "
        "projected to exceed capacity within {n2w} months.",
        "victim,violence against,domestic abuse,stalking,rape,exploitation,hate::Victims' groups "
        "say the Victims' Support Fund is not reaching those who need it most.",
        "police,officers,response times,neighbourhood::The local force covering {place} has lost "
        "{n2w} hundred officers over the past decade.",
        "shop::Shop workers in {place} report being threatened on an almost daily basis.",
    ],
    "housing": [
        "temporary,homeless,rough sleeping,eviction,social rented,council hous::More than {num} "
        "households were in temporary accommodation at the end of {py}.",
        "rent,private,landlord,eviction,housing allowance,holiday lets::Average rents in {place} "
        "have risen by {pct} per cent in two years.",
        "social,council hous,right to buy,affordable,overcrowding,empty homes::In {place}, the "
        "waiting list for social housing now exceeds {num} families.",
        "social,affordable,supply,target,new towns,developers,planning,self-build::Only {num} "
        "social rented homes were completed nationally in {py}.",
        "leasehold,cladding,service charges,fire safety::Leaseholders in {place} face bills of up "
        "to £{bill_k},000 each.",
        "damp,repairs,conditions,housing associations,Ombudsman,private rented::Tenants in "
        "{place} have lived with damp and mould for years without repairs.",
        "The {prog} has not delivered the homes that were promised.",
        "first-time,house prices,help to buy,second homes::A first-time buyer in {place} now "
        "needs a deposit of more than £{dep},000.",
    ],
    "defence": [
        "army,recruitment,reserve,regular::The regular army is now at its smallest for more than "
        "two centuries.",
        "recruitment,retention,army,reserve,pilots,cadet::Recruitment targets were missed by "
        "{pct_small} per cent in {py}.",
        "accommodation,families,Infrastructure,bases::Service families at the base near {place} "
        "report mould and broken boilers.",
        "procurement,frigate,aircraft,armoured,warships,munitions,deterrent,uncrewed,space,"
        "industrial base,shipbuilding::Auditors have found cost overruns of {money} in the "
        "equipment plan.",
        "The {prog} is now {n2w} years behind schedule.",
        "veteran,covenant,medals,Gurkha,mental health::Veterans in {place} tell me they struggle "
        "to access the support they were promised.",
        "NATO,spending,allies,eastern Europe,peacekeeping,integrated defence review,missile::Our "
        "allies expect the country to meet its NATO commitments in full.",
        "warships,frigate,navy,shipbuilding,undersea,missile::Only {n2w} of the navy's destroyers "
        "were available for operations last year.",
    ],
}
# Factual sentences that fit any topic.
GENERIC_FACTS = [
    "The Department's own figures show little improvement since {py}.",
    "Campaigners in {place} have collected thousands of signatures on this issue.",
    "Councillors of all parties in {place} have raised this with me.",
    "The relevant select committee has described progress as disappointing.",
    "Dozens of constituents in {place} have written to me about this in recent weeks.",
    "Local newspapers in {place} have reported on this for months.",
]

# Generic follow-up sentences; {pr} is the minister's pronoun ("she"/"he") or "the Minister".
GENERIC_FOLLOWUPS = [
    "Will {pr} publish the figures broken down by region?",
    "Will {pr} place a copy of the relevant assessment in the Library?",
    "Will the Minister meet me and a delegation from {place} to discuss this?",
    "What discussions has {pr} had with the Treasury about the funding required?",
    "My constituents deserve a clear answer.",
    "Will {pr} write to me setting out the timetable?",
    "How will progress be measured and reported to the House?",
    "What assessment has {pr} made of the impact on rural communities?",
    "Will {pr} confirm that the devolved administrations have been consulted?",
    "Can {pr} say when a decision will be made?",
    "What is the Government's target, and when will it be met?",
    "This is a matter of real concern in {place}.",
    "Will {pr} commit to reviewing the policy within twelve months?",
    "What estimate has the Department made of the cost?",
    "Will {pr} ensure that the poorest communities are not left behind?",
    "Will the Government publish an impact assessment before proceeding?",
    "What lessons have been learned from other countries?",
    "When did {pr} last meet local leaders to discuss this?",
    "Will {pr} confirm how much funding has been allocated for {y}?",
    "Is it not time for a different approach?",
    "I have raised this matter repeatedly since {py}.",
    "Families in {place} have waited long enough.",
]

# Openers. (text, kind, person): kind "A" takes {aim}, "S" takes {subject}; person: the sentence
# addresses a minister, so a follow-up may refer to "she"/"he".
OPENERS = [
    ("Will the Minister set out what steps the Government is taking to {aim}{loc}?", "A", True),
    ("To ask the Government what plans it has to {aim}{loc}.", "A", False),
    ("Can the Minister confirm whether the Government will {aim} before the end of this Parliament?",
     "A", True),
    ("What further action will the Secretary of State take to {aim}{loc}?", "A", True),
    ("Will the Government bring forward proposals to {aim}?", "A", False),
    ("What is the Department doing to {aim}{loc}?", "A", False),
    ("Does the Minister agree that more must be done to {aim}{loc}, and will {pr} meet me to "
     "discuss it?", "A", True),
    ("What funding has been allocated in {y} to {aim}{loc}?", "A", False),
    ("When does the Government expect to {aim}?", "A", False),
    ("To ask the Secretary of State what timetable {pr} has set to {aim}.", "A", True),
    ("What plans does the Minister have to {aim}{loc}?", "A", True),
    ("Will the Secretary of State outline the Government's strategy to {aim}?", "A", True),
    ("What recent steps has the Department taken to {aim}{loc}?", "A", False),
    ("What assessment has the Secretary of State made of {subject}{loc}?", "S", True),
    ("Will the Minister make a statement on {subject}?", "S", True),
    ("What recent discussions has the Minister had with {actor} on {subject}?", "S", True),
    ("To ask the Government what recent evidence it has received on {subject}.", "S", False),
    ("Will the Minister publish the Department's latest data on {subject}, broken down by region?",
     "S", True),
    ("What representations has the Department received on {subject}{loc}?", "S", False),
    ("Is the Minister satisfied with the Government's record on {subject}{loc}?", "S", True),
    ("Can the Minister confirm when the Government will respond to concerns about {subject}?",
     "S", True),
    ("Will the Secretary of State commission an independent review of {subject}?", "S", True),
    ("How does the Government intend to respond to recent reports on {subject}{loc}?", "S", False),
    ("My constituents in {place} are deeply concerned about {subject}. What will the Minister do "
     "about it?", "S", True),
    ("Following recent reports about {subject}, will the Minister set out the Government's "
     "position?", "S", True),
    ("To ask the Minister what recent assessment {pr} has made of {subject}.", "S", True),
    ("What consideration has the Government given to {subject} in its spending plans for {ny}?",
     "S", False),
]
# Openers that follow a factual sentence (the fact comes first).
AFTER_FACT = [
    ("What steps is the Government taking to {aim}?", "A", False),
    ("What is the Minister doing to {aim}?", "A", True),
    ("Will the Secretary of State now act to {aim}?", "A", True),
    ("What will the Government do about {subject}?", "S", False),
    ("Does the Minister accept that the Government's approach to {subject} is not working?",
     "S", True),
]
PROGRAMME_OPENERS = [
    ("What evaluation has the Department made of the effectiveness of the {prog}?", True),
    ("Will the Minister extend the {prog} beyond {ny}?", True),
    ("How much of the {prog} budget was left unspent in {py}?", False),
    ("To ask the Government how many projects in {place} have received money from the {prog}.",
     False),
    ("Can the Minister confirm that the {prog} will continue in its current form?", True),
    ("What criteria were used to allocate funding under the {prog}?", False),
]

NUMBER_WORDS = ["three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]

# --- hand-written questions -------------------------------------------------------------------
# (label, secondary, text). A non-empty secondary marks a mixed text: the gold label is its
# primary focus (the policy instrument or outcome it asks about), the secondary its context.

HANDWRITTEN: list[tuple[str, str, str]] = [
    # housing / energy
    ("housing", "energy", "What assessment has the Secretary of State made of the number of social "
     "tenants living in homes that fail the decent homes standard because of poor insulation?"),
    ("housing", "energy", "Will the Minister ensure that landlords cannot pass the cost of new "
     "boilers on to tenants through higher rents?"),
    ("housing", "energy", "How many council homes completed last year were built to a zero-carbon "
     "standard, and will the Minister make that standard a condition of grant for all new social "
     "housing?"),
    ("energy", "housing", "Will the Minister set out how many homes have been insulated under the "
     "Warm Homes Grant, and what proportion of them were in social housing?"),
    ("energy", "housing", "What steps is the Government taking to improve the energy efficiency of "
     "private rented homes, whose tenants pay some of the highest heating bills in the country?"),
    ("energy", "housing", "Funding for energy-efficient social housing has been cut twice in three "
     "years. Will the Minister explain how the target for insulating social homes will now be met?"),
    # health / education
    ("health", "education", "Will the Minister set out how many school nurses are employed by each "
     "integrated care board, and what plans there are to recruit more?"),
    ("health", "education", "What assessment has been made of waiting times for children's mental "
     "health services for pupils referred by their school?"),
    ("health", "education", "Can the Minister confirm that every pupil with type 1 diabetes will "
     "have access to trained medical support during the school day?"),
    ("education", "health", "What steps is the Secretary of State taking to ensure that pupils who "
     "miss school because of long-term illness can keep up with their studies?"),
    ("education", "health", "Will the Minister review the time given to physical education in the "
     "curriculum, given the rise in childhood obesity?"),
    ("education", "health", "How many trainee teachers receive training in recognising mental "
     "health problems among their pupils?"),
    # crime / immigration
    ("crime", "immigration", "What steps is the Government taking to prosecute the organised "
     "criminal gangs who traffic women into forced prostitution?"),
    ("crime", "immigration", "Will the Minister set out how many people have been convicted of "
     "employing illegal workers in car washes and nail bars?"),
    ("immigration", "crime", "How many foreign national offenders were deported at the end of their "
     "sentences last year, and how many remain in the country?"),
    ("immigration", "crime", "What assessment has the Home Office made of the number of asylum "
     "seekers who go missing from hotels and may be exploited by criminal gangs?"),
    ("immigration", "crime", "Will the Minister explain why victims of trafficking are being "
     "detained in immigration removal centres?"),
    # transport / environment
    ("transport", "environment", "What assessment has the Secretary of State made of the case for "
     "electrifying the remaining diesel-only branch lines in the South West?"),
    ("transport", "environment", "Will the Minister increase funding for bus services as part of "
     "the plan to cut carbon emissions from road traffic?"),
    ("transport", "environment", "Can the Minister confirm that low-traffic neighbourhoods will be "
     "evaluated for their effect on congestion and air quality?"),
    ("transport", "environment", "Will the Minister confirm the date from which the sale of new "
     "petrol and diesel cars will end?"),
    ("environment", "transport", "What steps is the Government taking to reduce nitrogen dioxide "
     "levels near primary schools on busy main roads?"),
    ("environment", "transport", "Will the Minister set out how the Clean Air Zones programme will "
     "bring down illegal levels of pollution from diesel vehicles?"),
    ("environment", "transport", "What assessment has been made of the effect of the proposed "
     "airport expansion on the country's carbon budgets?"),
    # macro / housing
    ("macro", "housing", "What assessment has the Chancellor made of the effect of rising interest "
     "rates on mortgage holders and on consumer spending?"),
    ("macro", "housing", "Will the Treasury review the rates of stamp duty, which raise billions but "
     "deter older people from moving to smaller homes?"),
    ("housing", "macro", "What steps is the Government taking to help homeowners whose fixed-rate "
     "mortgage deals are coming to an end this year?"),
    ("housing", "macro", "Will the Minister allow councils to charge a council tax premium on second "
     "homes to bring more properties back into use for local families?"),
    # macro / energy, transport
    ("macro", "transport", "Will the Chancellor freeze fuel duty again in the next Budget to protect "
     "motorists and hauliers from rising costs?"),
    ("macro", "energy", "What assessment has the Treasury made of the contribution of energy prices "
     "to the current rate of inflation?"),
    ("macro", "energy", "How much revenue has the windfall tax on oil and gas producers raised, and "
     "how has it been spent?"),
    ("energy", "macro", "Will the Minister explain how the energy price guarantee will be targeted "
     "at the households that need it most once it is scaled back to reduce its cost to the "
     "Exchequer?"),
    ("energy", "macro", "What support will be given to manufacturers who face some of the highest "
     "electricity prices in Europe?"),
    # defence / health, macro
    ("defence", "health", "What steps is the Ministry of Defence taking to improve access to mental "
     "health care for veterans with post-traumatic stress disorder?"),
    ("defence", "health", "Will the Minister ensure that service personnel injured in training "
     "receive prompt treatment and rehabilitation?"),
    ("macro", "defence", "What assessment has the Treasury made of the implications for public "
     "borrowing of raising defence spending to three per cent of national income?"),
    ("defence", "macro", "Will the Secretary of State confirm that the increase in the defence "
     "budget will be spent on equipment rather than absorbed by inflation?"),
    # health / crime
    ("health", "crime", "What steps is the Government taking to expand drug treatment services for "
     "people leaving prison with a heroin addiction?"),
    ("health", "crime", "Will the Minister set out what is being done to protect ambulance crews "
     "from assault while on duty?"),
    ("crime", "health", "What assessment has been made of the number of prisoners with serious "
     "mental illness who are held in prison because no secure hospital bed is available?"),
    ("crime", "health", "Will the Minister ensure that police officers are no longer the first "
     "responders to people in a mental health crisis?"),
    ("crime", "health", "How many people were prosecuted last year for selling nitrous oxide to "
     "young people?"),
    # education / immigration
    ("education", "immigration", "What assessment has the Secretary of State made of the financial "
     "dependence of universities on fees paid by international students?"),
    ("education", "immigration", "Will the Minister fund additional English language support in "
     "schools that have admitted large numbers of refugee children?"),
    ("immigration", "education", "What steps is the Government taking to stop the student visa "
     "route being used as a route to work rather than to study?"),
    ("immigration", "education", "How many dependants accompanied international students on study "
     "visas last year?"),
    # housing / crime
    ("housing", "crime", "What powers do councils have to evict social housing tenants who "
     "repeatedly engage in antisocial behaviour?"),
    ("housing", "crime", "Will the Minister introduce criminal penalties for landlords who "
     "illegally evict their tenants?"),
    ("crime", "housing", "What steps is the Government taking to tackle drug dealing on council "
     "estates, where residents are afraid to leave their homes after dark?"),
    ("crime", "housing", "How many landlords have been prosecuted for allowing their properties to "
     "be used as cannabis farms?"),
    # transport / energy
    ("transport", "energy", "What steps is the Government taking to increase the number of rapid "
     "charging points for electric vehicles at motorway service stations?"),
    ("energy", "transport", "What assessment has the Department made of the capacity of the "
     "electricity grid to cope with the growth in electric vehicles?"),
    ("energy", "transport", "Will the Minister set out plans to produce sustainable aviation fuel "
     "at scale?"),
    # environment / energy
    ("environment", "energy", "What assessment has the Secretary of State made of the effect of "
     "new North Sea oil licences on the country's legally binding climate targets?"),
    ("environment", "energy", "Does the Minister agree that the emissions from biomass power "
     "stations should be counted in full in the national carbon budget?"),
    ("energy", "environment", "What steps is the Government taking to speed up planning decisions "
     "on onshore wind farms so as to cut emissions from electricity generation?"),
    ("energy", "environment", "Will the Minister explain how the closure of the last coal-fired "
     "power station will affect the security of electricity supplies?"),
    # environment / housing
    ("environment", "housing", "What steps is the Government taking to ensure that new housing "
     "developments do not increase nutrient pollution in protected rivers?"),
    ("environment", "housing", "Will the Minister require all new homes to be built with swift "
     "bricks and other features that support wildlife?"),
    ("housing", "environment", "What assessment has been made of the number of new homes being "
     "built on flood plains?"),
    ("housing", "environment", "Will the Minister protect the green belt around our cities while "
     "still meeting the target for new homes?"),
    # education / macro
    ("education", "macro", "Will the Secretary of State review the interest rate charged on student "
     "loans, which now exceeds the rate of inflation?"),
    ("macro", "education", "What assessment has the Treasury made of the long-term cost to the "
     "public finances of student loans that will never be repaid?"),
    # immigration / macro, health
    ("macro", "immigration", "What assessment has the Office for Budget Responsibility made of how "
     "lower net migration will affect its growth forecasts?"),
    ("immigration", "health", "How many overseas nurses recruited under the health and care worker "
     "visa have left the NHS within two years?"),
    ("health", "immigration", "What steps is the Government taking to reduce the NHS's reliance on "
     "recruiting doctors from countries with severe staff shortages?"),
    ("health", "immigration", "How much did the immigration health surcharge raise last year, and "
     "how much of it reached NHS trusts?"),
    # transport / crime
    ("transport", "crime", "What steps is the Government taking to reduce the number of uninsured "
     "drivers on our roads?"),
    ("transport", "crime", "Will the Minister introduce tougher penalties for drivers who use "
     "mobile phones at the wheel?"),
    ("crime", "transport", "How many people were prosecuted for assaulting railway staff last "
     "year?"),
    ("crime", "transport", "What steps are the transport police taking to tackle sexual harassment "
     "of women on underground trains?"),
    # defence / education, crime, housing, energy
    ("defence", "education", "Will the Minister expand the number of cadet units in state secondary "
     "schools?"),
    ("defence", "education", "What steps is the Ministry of Defence taking to support the education "
     "of children from service families who frequently move school?"),
    ("defence", "crime", "What steps is the Ministry of Defence taking to ensure that serious sexual "
     "offences committed by service personnel are investigated by civilian police?"),
    ("defence", "crime", "How many veterans are currently in prison, and what support is available "
     "to them on release?"),
    ("defence", "housing", "How many service families are living in accommodation with damp and "
     "mould, and when will it be repaired?"),
    ("defence", "housing", "Will the Minister ensure that veterans are given priority for social "
     "housing when they leave the forces?"),
    ("defence", "energy", "What assessment has been made of the vulnerability of undersea gas "
     "pipelines to sabotage by hostile states?"),
    ("transport", "macro", "What estimate has the Department made of the cost overruns on the "
     "high-speed rail project, and how will they be funded?"),
    # environment / crime
    ("environment", "crime", "How many water company executives have been prosecuted for illegal "
     "sewage discharges?"),
    ("environment", "crime", "What steps is the Government taking to tackle fly-tipping, and how "
     "many fixed penalty notices were issued last year?"),
    ("crime", "environment", "Will the Minister give police forces more resources to tackle "
     "wildlife crime, including the persecution of birds of prey?"),
    # health / environment, housing, macro
    ("health", "environment", "What assessment has been made of the number of deaths each year "
     "attributable to air pollution?"),
    ("health", "environment", "Will the Minister ensure that the NHS reaches its own net zero "
     "target without diverting money from patient care?"),
    ("environment", "health", "What steps is the Government taking to reduce harmful pollution in "
     "rivers where children swim?"),
    ("health", "housing", "What assessment has been made of the number of children admitted to "
     "hospital with respiratory illnesses linked to damp and mould?"),
    ("health", "housing", "Will the Minister ensure that patients are not discharged from hospital "
     "to homes that are unsafe for them?"),
    ("housing", "health", "What steps is the Government taking to increase the supply of supported "
     "housing for people with learning disabilities?"),
    ("housing", "health", "Will the Minister set out how many homeless people died on the streets "
     "last year?"),
    ("macro", "health", "What assessment has the Treasury made of the effect of long-term sickness "
     "on the size of the workforce and on economic growth?"),
    ("health", "macro", "Will the Chancellor confirm that the NHS budget will rise in real terms in "
     "each year of the spending review?"),
    # education / transport
    ("education", "transport", "Will the Minister review the eligibility rules for free "
     "home-to-school transport for children with special educational needs?"),
    ("education", "transport", "What assessment has been made of the cost of travel for students in "
     "rural areas attending sixth-form college?"),
    ("transport", "education", "What steps is the Government taking to make routes to school safer "
     "for children who walk or cycle?"),
    # immigration / housing, defence
    ("immigration", "housing", "How many asylum seekers are currently housed in hotels, and what is "
     "the daily cost?"),
    ("immigration", "housing", "Will the Minister ensure that refugees granted status are given "
     "enough time to find housing before their asylum support ends?"),
    ("housing", "immigration", "What steps is the Government taking to prevent refugees granted "
     "leave to remain from becoming homeless?"),
    ("immigration", "defence", "How many Afghan interpreters who worked alongside the armed forces "
     "are still waiting to be relocated?"),
    ("immigration", "defence", "Will the Minister explain why former military barracks are being "
     "used to house asylum seekers?"),
    # macro / crime, environment
    ("macro", "crime", "How much revenue is lost each year through VAT fraud, and what is being "
     "done to recover it?"),
    ("crime", "macro", "Will the Minister ensure that money confiscated from fraudsters is returned "
     "to the victims of investment scams?"),
    ("energy", "crime", "What steps is the Government taking to stop the theft of electricity "
     "through illegal connections?"),
    ("crime", "education", "How will the Minister ensure that pupils excluded from school are not "
     "drawn into county lines gangs?"),
    ("education", "crime", "Will the Minister ensure that schools have the resources to teach "
     "pupils about the dangers of carrying knives?"),
    ("environment", "macro", "Will the Minister set out how the proceeds of the plastic packaging "
     "tax are being used to improve recycling?"),
    ("macro", "environment", "What assessment has the Chancellor made of the use of green gilts to "
     "finance public investment?"),
    # hard but not mixed: few topic keywords
    ("health", "", "Will the Minister explain why my constituent, a woman in her eighties, waited "
     "fourteen hours on a trolley before she was seen?"),
    ("macro", "", "What assessment has the Chancellor made of the latest figures showing that the "
     "economy shrank in the last quarter?"),
    ("education", "", "What support is available to families whose children have not been offered "
     "a place at any of their local secondaries?"),
    ("environment", "", "Will the Minister explain why the monitoring station on our river was "
     "switched off for most of last year?"),
    ("energy", "", "Can the Minister say why my constituents are still billed on estimated readings "
     "when they have submitted their own?"),
    ("immigration", "", "How long is a person expected to wait for a decision once they have "
     "lodged their claim at the screening unit?"),
    ("transport", "", "Will the Minister ask the operator to explain why the last service of the "
     "evening was withdrawn without any consultation?"),
    ("crime", "", "What assessment has been made of how long victims wait between reporting an "
     "offence and the case coming to trial?"),
    ("housing", "", "What support is available to a family with three children who have been "
     "placed in a single room for the past eight months?"),
    ("defence", "", "Will the Minister explain what the Government's decision means for the future "
     "of the regiment that has always recruited from my constituency?"),
    ("defence", "", "What steps is the Government taking to ensure that those who served receive "
     "the medals they were promised?"),
    ("housing", "", "Will the Minister explain what a family should do when the council tells them "
     "that it has nowhere to put them tonight?"),
]

# --- generation -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9£']+")


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams of a text (lower-cased); a text shorter than n words is one n-gram."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class NearDupIndex:
    """Index of accepted texts' 5-grams; ``overlap`` is the largest share any accepted text has."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, ...], list[int]] = {}
        self.sizes: list[int] = []

    def overlap(self, grams: set[tuple[str, ...]]) -> float:
        counts: dict[int, int] = {}
        for g in grams:
            for j in self.index.get(g, ()):
                counts[j] = counts.get(j, 0) + 1
        return max((c / min(len(grams), self.sizes[j]) for j, c in counts.items()), default=0.0)

    def add(self, grams: set[tuple[str, ...]]) -> None:
        j = len(self.sizes)
        self.sizes.append(len(grams))
        for g in grams:
            self.index.setdefault(g, []).append(j)


def parse_issue(entry: str) -> tuple[str, str, bool]:
    local = entry.startswith("*")
    verb, subject = entry.lstrip("*").split("|")
    verb, subject = verb.strip(), subject.strip()
    return f"{verb} {subject}", subject, local


def _money(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"£{rng.randint(12, 95) * 10} million"
    return f"£{rng.randint(11, 96) / 10:.1f} billion"


def _context(rng: random.Random, topic: str, year: int) -> dict[str, str]:
    return {
        "place": rng.choice(PLACES),
        "y": str(year), "py": str(year - 1), "ny": str(year + 1),
        "pct": str(rng.randint(8, 64)),
        "pct_small": str(rng.randint(2, 11)),
        "num": f"{rng.randint(3, 95) * 1000:,}",
        "num_big": f"{rng.randint(18, 74) * 10000:,}",
        "money": _money(rng),
        "n2w": rng.choice(NUMBER_WORDS),
        "weeks": str(rng.randint(12, 60)),
        "bill": f"{rng.randint(12, 35) * 100:,}",
        "bill_k": str(rng.randint(15, 90)),
        "dep": str(rng.randint(25, 80)),
        "prog": rng.choice(PROGRAMMES[topic]),
        "actor": rng.choice(ACTORS[topic] * 2 + GENERIC_ACTORS),
    }


def _fill(template: str, ctx: dict[str, str]) -> str:
    out = template.format(**ctx)
    return out[0].upper() + out[1:]


def n_sentences(parts: list[str]) -> int:
    """Sentences in a list of template strings (each ends in '.' or '?')."""
    return sum(len(re.findall(r"[.?](?:\s|$)", p)) for p in parts)


def facts_for(topic: str, aim: str | None) -> list[str]:
    """Factual sentences that fit an issue (``aim``) of ``topic``; ``None``: the untagged ones."""
    out = []
    for fact in FACTS[topic]:
        if "::" in fact:
            keys, text = fact.split("::", 1)
            if aim is not None and any(k.lower() in aim.lower() for k in keys.split(",")):
                out.append(text)
        elif aim is None or "{prog}" not in fact:  # programme facts go with programme questions
            out.append(fact)
    return out


def _fact(rng: random.Random, topic: str, aim: str | None) -> str:
    pool = facts_for(topic, aim)
    if not pool or rng.random() < 0.2:
        return rng.choice(GENERIC_FACTS)
    return rng.choice(pool)


def make_question(rng: random.Random, topic: str, issue: str, year: int) -> str:
    """One to three sentences on ``issue`` of ``topic``."""
    aim, subject, local = parse_issue(issue)
    ctx = _context(rng, topic, year)
    ctx["aim"], ctx["subject"] = aim, subject
    pronoun = rng.choice(["she", "he"])
    ctx["loc"] = f" in {ctx['place']}" if local and rng.random() < 0.6 else ""

    r = rng.random()
    about: str | None = aim
    if r < 0.10:  # a question about a named programme
        text, person = rng.choice(PROGRAMME_OPENERS)
        about = None
        sentences = [text]
    elif r < 0.25:  # a fact first, then the question
        text, _, person = rng.choice(AFTER_FACT)
        ctx["loc"] = ""
        sentences = [_fact(rng, topic, aim), text]
    else:
        text, _, person = rng.choice(OPENERS)
        sentences = [text]
    ctx["pr"] = pronoun if person else "the Minister"
    want = rng.choices([1, 2, 3], weights=[45, 40, 15])[0]
    if n_sentences(sentences) == 1 and want >= 2:
        if rng.random() < 0.55:
            sentences.append(_fact(rng, topic, about))
        else:
            sentences.append(rng.choice(GENERIC_FOLLOWUPS))
    if want == 3 and n_sentences(sentences) == 2:
        extra = rng.choice(GENERIC_FOLLOWUPS)
        if extra not in sentences:
            sentences.append(extra)
    # one place per question: the opener, the fact and the follow-up all use ctx["place"]
    return " ".join(_fill(s, ctx) for s in sentences)


def _weighted(rng: random.Random, items: list, weights: list[float]):
    return rng.choices(items, weights=weights)[0]


def draw_party_year(rng: random.Random, topic: str) -> tuple[str, int]:
    party = _weighted(rng, PARTIES, PARTY_WEIGHTS[topic])
    year = _weighted(rng, YEARS, [YEAR_BUMPS[topic].get(y, 1.0) for y in YEARS])
    return party, year


def generate(seed: int = SEED) -> list[dict[str, str]]:
    """All rows of the demo corpus, shuffled, with ids Q0001..."""
    rng = random.Random(seed)
    index = NearDupIndex()
    seen: set[str] = set()
    rows: list[dict[str, str]] = []

    def accept(text: str, label: str, secondary: str, party: str, year: int, limit: float) -> bool:
        grams = shingles(text)
        if text in seen or index.overlap(grams) > limit:
            return False
        seen.add(text)
        index.add(grams)
        rows.append({"text": text, "label": label, "year": str(year), "party": party,
                     "mixed": "true" if secondary else "false", "secondary": secondary})
        return True

    for label, secondary, text in HANDWRITTEN:
        party, year = draw_party_year(rng, label)
        if not accept(text, label, secondary, party, year, 0.8):
            raise ValueError(f"hand-written question repeats another: {text}")

    have = {t: sum(r["label"] == t for r in rows) for t in TOPICS}
    for topic in TOPICS:
        issues = ISSUES[topic]
        uses = [0] * len(issues)
        need = TARGETS[topic] - have[topic]
        tries = 0
        while need > 0:
            tries += 1
            if tries > 50 * TARGETS[topic]:
                raise RuntimeError(f"could not generate enough distinct questions on {topic}")
            low = min(uses)
            i = rng.choice([k for k, u in enumerate(uses) if u == low])
            party, year = draw_party_year(rng, topic)
            text = make_question(rng, topic, issues[i], year)
            if accept(text, topic, "", party, year, 0.6):
                uses[i] += 1
                need -= 1

    rng.shuffle(rows)
    return [{"id": f"Q{k:04d}", **r} for k, r in enumerate(rows, start=1)]


COLUMNS = ["id", "text", "label", "year", "party", "mixed", "secondary"]


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "questions.csv", help="CSV to write")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    rows = generate(args.seed)
    write_csv(rows, args.out)
    print(f"wrote {len(rows)} questions to {args.out}")


if __name__ == "__main__":
    main()
